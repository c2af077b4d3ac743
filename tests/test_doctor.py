"""`autogradkit doctor`: every check reports, and a missing piece comes with its fix."""
import subprocess
import sys

from autogradkit import doctor


def test_doctor_reports_every_check_here(capsys):
    checks = doctor.run_checks()
    names = [c.name for c in checks]
    for expected in ("Python", "numpy", "Graphviz (dot)", "ipywidgets", "CuPy / GPU"):
        assert expected in names
    status = doctor.report(checks)
    out = capsys.readouterr().out
    assert status == 0 and "autogradkit can run here." in out
    gpu = next(c for c in checks if c.name == "CuPy / GPU")
    if not gpu.ok:
        assert gpu.fix and "fix:" in out


def test_missing_graphviz_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    check = doctor._graphviz_check()
    assert not check.ok and "apt-get install graphviz" in check.fix
    assert doctor.report([check]) == 0          # optional: reported, not fatal
    assert "fix: install Graphviz" in capsys.readouterr().out


def test_missing_required_package_fails_with_its_fix(monkeypatch, capsys):
    check = doctor._package_check("no_such_module_xyz", "numpy", "`pip install numpy`", required=True)
    assert not check.ok
    assert doctor.report([check]) == 1
    out = capsys.readouterr().out
    assert "[ERR] numpy" in out and "fix: `pip install numpy`" in out


def test_doctor_command_exits_zero_here():
    proc = subprocess.run([sys.executable, "-m", "autogradkit", "doctor"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Graphviz (dot)" in proc.stdout
