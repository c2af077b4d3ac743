"""The classic mistakes a check can recognise, each with a short name and a hint.

A hint says what the mistake *looks like* and where to look; it never shows the code that fixes
it. A task may replace any of these hints with one of its own, or add mistakes of its own.
"""
from __future__ import annotations

# key: (what the answer looks like, the hint)
CATALOGUE = {
    "negated": (
        "a negated answer: right size, opposite sign",
        "Every value has the right size but the opposite sign. Look for a sign slip: a difference "
        "taken the wrong way round, a minus lost in a local derivative, or a step that climbs the "
        "loss instead of descending it."),
    "doubled": (
        "twice the right answer",
        "Every value is exactly twice the right one, so something is counted twice. Which "
        "quantity is being added in two times, or measured over twice the distance?"),
    "zeros": (
        "all zeros: nothing got through",
        "All your values are zero. Follow the gradient from where it starts: is the upstream "
        "gradient ever set, multiplied in, and stored where it is read?"),
    "nan": (
        "not-a-number values",
        "Your answer contains nan: look for a 0/0, a square root or log of a negative number, or "
        "numbers that grew until they overflowed."),
    "missing_accumulation": (
        "a missing accumulation (= where += is needed)",
        "A value that is used more than once receives one gradient from every use, and the chain "
        "rule adds them up. Assigning to a gradient keeps only the last contribution; an "
        "earlier one (or one that was already there) is lost."),
    "unsummed_broadcast": (
        "an un-summed broadcast gradient",
        "This gradient still has the shape of the broadcast result. An operand that broadcasting "
        "stretched was used once per copy, so its gradient collects every copy's share: reduce "
        "over the dimensions that were stretched. A gradient always has the shape of its tensor."),
    "transposed": (
        "a transposed answer",
        "Your answer is the transpose of the right one: rows and columns are swapped. An answer "
        "has the shape and layout of the thing it belongs to (a gradient, that of its tensor): "
        "write down the shapes involved and see which arrangement produces that one."),
    "not_reduced": (
        "one value per element instead of one number",
        "The answer should be a single number, but yours has one value per element. Reduce over "
        "the elements as the task says (a mean or a sum)."),
    "integer_dtype": (
        "an integer answer: the fractions were cut off",
        "Your numbers are integers, so everything after the decimal point was lost. Work with "
        "floats: create the arrays you fill as floats, and do not convert the result to int."),
    "float32_precision": (
        "right to float32's precision, not to the precision asked for",
        "Your numbers agree to about 6 digits — as far as float32 goes — but this check asks for "
        "float64 accuracy. Compute in float64 (dtype=float64 for tensors and arrays)."),
    "reshaped": (
        "the right numbers in the wrong shape",
        "The answer should have the same shape as the tensor (or input) it belongs to."),
    "forgot_zero_grad": (
        "a forgotten zero_grad: old gradients are still added in",
        "backward() adds into .grad; it never clears it. Without clearing the gradients between "
        "two backward passes, each gradient is the sum of the old and the new one — twice as "
        "large when the two are equal."),
    "not_numbers": (
        "not a number",
        "Return the numbers themselves: a float, a numpy array or a tensor (did you forget a "
        "return?)."),
    "timeout": (
        "a loop that does not end",
        "Your code did not stop in time. Look for a loop whose condition never becomes false, or "
        "one that walks a structure it keeps adding to."),
    "recursion": (
        "recursion too deep",
        "Python allows only about a thousand nested calls. Walk the graph with a loop and a list "
        "you manage yourself (a stack) instead of a function that calls itself."),
}


def label(key):
    return CATALOGUE[key][0] if key in CATALOGUE else key.replace("_", " ")


def hint(key):
    return CATALOGUE[key][1] if key in CATALOGUE else None
