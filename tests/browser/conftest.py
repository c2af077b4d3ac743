# The notebook here is opened in a real browser by tests/test_browser.py; it is not an nbval
# notebook (its outputs are checked in the browser, and it is stored without outputs).
collect_ignore_glob = ["*.ipynb"]
