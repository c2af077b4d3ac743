"""The functional autodiff API against PyTorch: ``autograd.functional`` (``jacobian``, ``hessian``,
``vjp``, ``jvp``, ``hvp``, ``vhp``) and ``autogradkit.func`` (``grad``, ``grad_and_value``,
``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``).

Each scenario is written once as ``scenario(m)``, with ``m`` either ``autogradkit`` or ``torch``,
and called the way PyTorch's documentation calls these functions (keywords, defaults, a tensor or a
tuple of them). Results must agree in structure (tuples, nested tuples, dicts), shape, dtype and
value (to 1e-7, in float64), and in whether they carry a graph (``requires_grad``).

The cases that need forward mode (``autograd/forward_ad.py``) are skipped, with the reason, while
that module is not there.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.autograd.functional  # noqa: E402,F401
import torch.func  # noqa: E402,F401

import autogradkit as ag  # noqa: E402
import autogradkit.autograd.functional  # noqa: E402,F401
import autogradkit.func  # noqa: E402,F401

HAS_FORWARD = importlib.util.find_spec("autogradkit.autograd.forward_ad") is not None
needs_forward = pytest.mark.skipif(
    not HAS_FORWARD, reason="needs forward mode: autogradkit/autograd/forward_ad.py (issue 14, "
                            "item 1) is not there yet")
TOL = dict(rtol=1e-7, atol=1e-7)


# ---- helpers ----------------------------------------------------------------------------------
def AF(m):
    return m.autograd.functional


def is_tensor(x):
    return isinstance(x, (ag.Tensor, torch.Tensor))


def dtype_name(t):
    return t.dtype.name if isinstance(t, ag.Tensor) else str(t.dtype).replace("torch.", "")


def assert_same(got, want, where="result", grad_flags=True):
    """Same structure, shapes, dtypes, values (1e-7), and the same ``requires_grad``."""
    if is_tensor(want):
        assert isinstance(got, ag.Tensor), f"{where}: got {type(got).__name__}, torch a Tensor"
        assert tuple(got.shape) == tuple(want.shape), \
            f"{where}: shape {tuple(got.shape)}, torch {tuple(want.shape)}"
        assert dtype_name(got) == dtype_name(want), \
            f"{where}: dtype {dtype_name(got)}, torch {dtype_name(want)}"
        if grad_flags:
            assert got.requires_grad == want.requires_grad, \
                f"{where}: requires_grad {got.requires_grad}, torch {want.requires_grad}"
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), err_msg=where,
                                   **TOL)
        return
    assert type(got) is type(want), f"{where}: got a {type(got).__name__}, torch a " \
                                    f"{type(want).__name__}"
    if isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]", grad_flags)
        return
    assert isinstance(want, (tuple, list)), f"{where}: unexpected {type(want).__name__}"
    assert len(got) == len(want), f"{where}: length {len(got)}, torch {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"{where}[{k}]", grad_flags)


def both(scenario, grad_flags=True):
    """Run ``scenario(m)`` with autogradkit and with torch; the results must agree."""
    want = scenario(torch)
    got = scenario(ag)
    assert_same(got, want, grad_flags=grad_flags)
    return got


RNG = np.random.default_rng(14)
X3 = RNG.standard_normal(3)
Y3 = RNG.standard_normal(3)
M23 = RNG.standard_normal((2, 3))
A24 = RNG.uniform(0.2, 1.0, (2, 4))
V2 = RNG.standard_normal(2)
V4 = RNG.standard_normal(4)


def t(m, array, requires_grad=False, dtype="float64"):
    return m.tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad)


# The functions, written once for either module. n inputs, m outputs, as noted.
def rn_to_rm(m):            # ℝ³ → ℝ²: a constant matrix, then a nonlinearity
    W = t(m, M23)
    return lambda x: (W @ x).sin() * x.sum()


def rn_to_rn(m):            # ℝ³ → ℝ³, a dense Jacobian
    return lambda x: (x.exp() * x.sum()).tanh()


def exp_reducer(m):         # ℝ^{2×4} → ℝ², from PyTorch's docs
    return lambda x: x.exp().sum(dim=1)


def adder(m):               # two inputs, from PyTorch's docs
    return lambda x, y: 2 * x + 3 * y


def two_in_two_out(m):      # (ℝ³, ℝ³) → (ℝ³, ℝ, ℝ³)
    return lambda x, y: ((x * y).sin(), (x + y * y).sum(), x.exp())


def pow_reducer(m):         # scalar output, from PyTorch's docs
    return lambda x: x.pow(3).sum()


def coupled(m):             # scalar output with a dense Hessian
    return lambda x: (x.sin() * x.sum()).sum() + (x * x).sum().sqrt()


def two_inputs_scalar(m):   # scalar output of two inputs, with cross terms
    return lambda x, y: (x * y.exp()).sum() + (x * x).sum() * y.sum()


def one_unused(m):          # y is not used at all
    return lambda x, y: (x ** 2).sum()


# ---- autograd.functional.jacobian -----------------------------------------------------------
@pytest.mark.parametrize("make, arrays", [
    (rn_to_rm, (X3,)), (rn_to_rn, (X3,)), (exp_reducer, (A24,)), (pow_reducer, (X3,)),
], ids=["R3-R2", "R3-R3", "exp_reducer", "scalar"])
def test_jacobian_one_input_one_output(make, arrays):
    got = both(lambda m: AF(m).jacobian(make(m), t(m, arrays[0])))
    assert isinstance(got, ag.Tensor)


def test_jacobian_structures_follow_tuples():
    # tuple of inputs, one output: a tuple (one block per input)
    both(lambda m: AF(m).jacobian(adder(m), (t(m, X3), t(m, Y3))))
    # one input given as a 1-tuple: still a tuple
    both(lambda m: AF(m).jacobian(rn_to_rn(m), (t(m, X3),)))
    # tuple of outputs, tuple of inputs: a tuple (per output) of tuples (per input)
    got = both(lambda m: AF(m).jacobian(two_in_two_out(m), (t(m, X3), t(m, Y3))))
    assert tuple(got[1][0].shape) == (3,) and tuple(got[0][1].shape) == (3, 3)
    # tuple of outputs, one input: a tuple per output
    both(lambda m: AF(m).jacobian(lambda x: (x.exp(), x.sum()), t(m, X3)))


def test_jacobian_keywords_and_flags():
    for kwargs in [dict(vectorize=True), dict(create_graph=True), dict(strict=True),
                   dict(strategy="reverse-mode")]:
        both(lambda m: AF(m).jacobian(rn_to_rm(m), t(m, X3), **kwargs))


def test_jacobian_create_graph_is_differentiable_and_reaches_the_input():
    def scenario(m):
        x = t(m, X3, requires_grad=True)
        J = AF(m).jacobian(rn_to_rn(m), x, create_graph=True)
        (J * J).sum().backward()
        return J, x.grad
    both(scenario)


def test_jacobian_leaves_grad_alone_and_unused_inputs_get_zeros():
    def scenario(m):
        x, y = t(m, X3, requires_grad=True), t(m, Y3, requires_grad=True)
        J = AF(m).jacobian(lambda a, b: a.exp(), (x, y))
        assert x.grad is None and y.grad is None
        return J
    got = both(scenario)
    assert not got[1].numpy().any()
    # output independent of the input entirely (a constant, an integer result)
    both(lambda m: AF(m).jacobian(lambda x: m.ones(2, dtype=m.float64), t(m, X3)))
    both(lambda m: AF(m).jacobian(lambda x: x.argmax(), t(m, X3)))


def test_jacobian_float32_keeps_float32():
    both(lambda m: AF(m).jacobian(rn_to_rn(m), t(m, X3, dtype="float32")))


def tuples(x):
    """Lists to tuples, all the way down: PyTorch's forward-mode ``jacobian`` (2.13) hands back
    lists where its reverse mode and its documentation give tuples; autogradkit gives tuples."""
    return tuple(tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


@needs_forward
@pytest.mark.parametrize("make, inputs", [
    (rn_to_rm, lambda m: t(m, X3)), (exp_reducer, lambda m: t(m, A24)),
    (two_in_two_out, lambda m: (t(m, X3), t(m, Y3))), (adder, lambda m: (t(m, X3), t(m, Y3))),
], ids=["R3-R2", "exp_reducer", "two_in_two_out", "adder"])
def test_jacobian_forward_mode(make, inputs):
    want = tuples(AF(torch).jacobian(make(torch), inputs(torch), vectorize=True,
                                     strategy="forward-mode"))
    assert_same(AF(ag).jacobian(make(ag), inputs(ag), vectorize=True, strategy="forward-mode"),
                want)
    # PyTorch needs vectorize=True for forward mode; here the loop runs either way
    assert_same(AF(ag).jacobian(make(ag), inputs(ag), strategy="forward-mode"), want)
    # and it equals the reverse-mode Jacobian
    assert_same(AF(ag).jacobian(make(ag), inputs(ag), strategy="forward-mode"),
                tuples(AF(torch).jacobian(make(torch), inputs(torch))))


# ---- autograd.functional.hessian ------------------------------------------------------------
@pytest.mark.parametrize("make, arrays", [
    (pow_reducer, (X3,)), (coupled, (X3,)), (lambda m: lambda x: (x.exp() ** 2).sum(), (A24,)),
    (two_inputs_scalar, (X3, Y3)), (one_unused, (X3, Y3)),
], ids=["pow_reducer", "coupled", "matrix_input", "two_inputs", "unused_input"])
def test_hessian(make, arrays):
    def inputs(m):
        ts = tuple(t(m, a) for a in arrays)
        return ts[0] if len(ts) == 1 else ts
    both(lambda m: AF(m).hessian(make(m), inputs(m)))
    both(lambda m: AF(m).hessian(make(m), inputs(m), create_graph=True))


def test_hessian_of_a_linear_function_is_zero_and_strict_refuses_it():
    both(lambda m: AF(m).hessian(lambda x: x.sum(), t(m, X3)))
    for m in (torch, ag):
        with pytest.raises(RuntimeError, match="independent|does not depend"):
            AF(m).hessian(lambda x: (2 * x).sum(), t(m, X3), strict=True)


@needs_forward
@pytest.mark.parametrize("make, arrays", [
    (pow_reducer, (X3,)), (coupled, (X3,)), (two_inputs_scalar, (X3, Y3)),
], ids=["pow_reducer", "coupled", "two_inputs"])
def test_hessian_forward_over_reverse(make, arrays):
    def inputs(m):
        ts = tuple(t(m, a) for a in arrays)
        return ts[0] if len(ts) == 1 else ts
    # PyTorch 2.13 gives lists here, and tensors that carry a graph (requires_grad) although
    # create_graph=False; autogradkit gives tuples, detached, as its reverse mode does
    want = tuples(AF(torch).hessian(make(torch), inputs(torch), vectorize=True,
                                    outer_jacobian_strategy="forward-mode"))
    got = AF(ag).hessian(make(ag), inputs(ag), vectorize=True,
                         outer_jacobian_strategy="forward-mode")
    assert_same(got, want, grad_flags=False)
    assert_same(got, AF(ag).hessian(make(ag), inputs(ag)))     # = reverse-over-reverse
    assert not any(h.requires_grad for h in ([got] if isinstance(got, ag.Tensor) else
                                             [h for row in got for h in row]))


# ---- vjp, jvp, vhp, hvp -----------------------------------------------------------------------
def test_vjp_as_in_the_docs():
    both(lambda m: AF(m).vjp(exp_reducer(m), t(m, A24), t(m, np.ones(2))))
    both(lambda m: AF(m).vjp(exp_reducer(m), t(m, A24), t(m, V2), create_graph=True))
    both(lambda m: AF(m).vjp(adder(m), (t(m, X3), t(m, Y3)), t(m, np.ones(3))))
    both(lambda m: AF(m).vjp(pow_reducer(m), t(m, X3)))                  # v = 1 by default
    both(lambda m: AF(m).vjp(two_in_two_out(m), (t(m, X3), t(m, Y3)),
                             (t(m, X3), t(m, 2.0), t(m, Y3))))
    both(lambda m: AF(m).vjp(one_unused(m), (t(m, X3), t(m, Y3))))      # zeros for y


def test_jvp_as_in_the_docs():
    both(lambda m: AF(m).jvp(exp_reducer(m), t(m, A24), t(m, np.ones((2, 4)))))
    both(lambda m: AF(m).jvp(exp_reducer(m), t(m, A24), t(m, A24 * 2), create_graph=True))
    both(lambda m: AF(m).jvp(adder(m), (t(m, X3), t(m, Y3)), (t(m, np.ones(3)), t(m, Y3))))
    both(lambda m: AF(m).jvp(rn_to_rm(m), t(m, X3), t(m, Y3)))
    both(lambda m: AF(m).jvp(two_in_two_out(m), (t(m, X3), t(m, Y3)), (t(m, Y3), t(m, X3))))
    both(lambda m: AF(m).jvp(lambda x: x.exp() * 3, t(m, [0.5])))         # v = 1 by default


@pytest.mark.parametrize("name", ["vhp", "hvp"])
def test_vhp_and_hvp(name):
    def call(m, *args, **kwargs):
        return getattr(AF(m), name)(*args, **kwargs)
    both(lambda m: call(m, pow_reducer(m), t(m, M23), t(m, np.ones((2, 3)))))
    both(lambda m: call(m, coupled(m), t(m, X3), t(m, Y3)))
    both(lambda m: call(m, coupled(m), t(m, X3), t(m, Y3), create_graph=True))
    both(lambda m: call(m, two_inputs_scalar(m), (t(m, X3), t(m, Y3)), (t(m, Y3), t(m, X3))))
    both(lambda m: call(m, one_unused(m), (t(m, X3), t(m, Y3)), (t(m, Y3), t(m, X3))))
    both(lambda m: call(m, lambda x: x.sin().sum(), t(m, [0.3])))           # v = 1 by default


def test_strict_turns_zeros_into_errors():
    for m in (torch, ag):
        x, y = t(m, X3), t(m, Y3)
        for fn in ("vjp", "vhp", "hvp"):
            with pytest.raises(RuntimeError, match="independent|does not depend"):
                getattr(AF(m), fn)(one_unused(m), (x, y), (x, y) if fn != "vjp" else None,
                                   strict=True)
        with pytest.raises(RuntimeError, match="independent|does not depend"):
            AF(m).jacobian(one_unused(m), (x, y), strict=True)
        with pytest.raises(RuntimeError, match="does not require grad"):
            AF(m).jvp(lambda a: m.ones(3, dtype=m.float64), x, x, strict=True)


# ---- autogradkit.func -----------------------------------------------------------------------
def test_func_grad_and_grad_and_value():
    both(lambda m: m.func.grad(coupled(m))(t(m, X3)))
    both(lambda m: m.func.grad(m.sin)(t(m, 0.7)))                        # the docs' first example
    both(lambda m: m.func.grad(m.func.grad(m.sin))(t(m, 0.7)))           # nested: −sin x
    both(lambda m: m.func.grad(two_inputs_scalar(m), argnums=(0, 1))(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.grad(two_inputs_scalar(m), argnums=1)(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.grad_and_value(coupled(m))(t(m, X3)))
    both(lambda m: m.func.grad(lambda x: ((x ** 2).sum(), x.exp()), has_aux=True)(t(m, X3)))
    both(lambda m: m.func.grad_and_value(lambda x: ((x ** 2).sum(), x.exp()),
                                         has_aux=True)(t(m, X3)))


def test_func_grad_over_a_dict_of_parameters():
    def loss(params, x):
        return ((x @ params["w"] + params["b"]).tanh() ** 2).mean()

    def scenario(m):
        params = {"w": t(m, M23.T), "b": t(m, V2)}
        return m.func.grad(loss)(params, t(m, A24[:, :3]))
    got = both(scenario)
    assert list(got) == ["w", "b"]


def test_func_grad_keeps_a_graph_to_outside_tensors_only():
    def scenario(m):
        w = t(m, Y3, requires_grad=True)
        g_plain = m.func.grad(lambda x: (x * x).sum())(t(m, X3))         # detached: no outside
        g_closure = m.func.grad(lambda x: (w * x * x).sum())(t(m, X3))   # depends on w
        g_arg = m.func.grad(lambda x: (x ** 3).sum())(w)                 # depends on w
        (g_closure.sum() + g_arg.sum()).backward()
        return g_plain, g_closure, g_arg, w.grad
    both(scenario)


def test_func_vjp():
    def scenario(m):
        out, vjp_fn = m.func.vjp(rn_to_rm(m), t(m, X3))
        return out, vjp_fn(t(m, V2)), vjp_fn(t(m, np.ones(2)))          # callable again
    both(scenario)

    def several(m):
        out, vjp_fn = m.func.vjp(two_in_two_out(m), t(m, X3), t(m, Y3))
        return out, vjp_fn((t(m, X3), t(m, 1.5), t(m, Y3)))
    both(several)

    def aux(m):
        out, vjp_fn, a = m.func.vjp(lambda x: (x.sin(), x.cos()), t(m, X3), has_aux=True)
        return out, vjp_fn(t(m, Y3)), a
    both(aux)


def test_func_jacrev():
    both(lambda m: m.func.jacrev(rn_to_rm(m))(t(m, X3)))
    both(lambda m: m.func.jacrev(exp_reducer(m))(t(m, A24)))
    both(lambda m: m.func.jacrev(two_in_two_out(m), argnums=(0, 1))(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.jacrev(two_in_two_out(m), argnums=1)(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.jacrev(lambda p: {"s": p["a"] * p["b"], "t": p["a"].sum()})(
        {"a": t(m, X3), "b": t(m, Y3)}))
    both(lambda m: m.func.jacrev(lambda x: (x.sin(), x.exp()), has_aux=True)(t(m, X3)))
    both(lambda m: m.func.jacrev(m.func.jacrev(coupled(m)))(t(m, X3)))   # reverse-over-reverse


@needs_forward
def test_func_jvp():
    both(lambda m: m.func.jvp(m.sin, (t(m, X3),), (t(m, Y3),)))
    both(lambda m: m.func.jvp(two_in_two_out(m), (t(m, X3), t(m, Y3)), (t(m, Y3), t(m, X3))))
    both(lambda m: m.func.jvp(rn_to_rm(m), (t(m, X3),), (t(m, Y3),)))
    both(lambda m: m.func.jvp(lambda x: (x.exp(), x.sin()), (t(m, X3),), (t(m, Y3),),
                              has_aux=True))
    both(lambda m: m.func.jvp(lambda x: m.ones(2, dtype=m.float64), (t(m, X3),), (t(m, Y3),)))


@needs_forward
def test_func_jacfwd_and_hessian():
    both(lambda m: m.func.jacfwd(rn_to_rm(m))(t(m, X3)))
    both(lambda m: m.func.jacfwd(exp_reducer(m))(t(m, A24)))
    both(lambda m: m.func.jacfwd(two_in_two_out(m), argnums=(0, 1))(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.jacfwd(lambda x: (x.sin(), x.exp()), has_aux=True)(t(m, X3)))
    both(lambda m: m.func.hessian(coupled(m))(t(m, X3)))                 # forward-over-reverse
    both(lambda m: m.func.hessian(lambda x: x.sin().sum())(t(m, X3)))    # the docs' example
    both(lambda m: m.func.hessian(two_inputs_scalar(m), argnums=(0, 1))(t(m, X3), t(m, Y3)))
    both(lambda m: m.func.hessian(pow_reducer(m))(t(m, M23)))


@needs_forward
def test_func_modes_mixed_and_under_no_grad():
    both(lambda m: m.func.jacrev(m.func.jacfwd(coupled(m)))(t(m, X3)))  # reverse-over-forward

    def scenario(m):
        x = t(m, X3, requires_grad=True)
        J = m.func.jacfwd(lambda a: a.sin())(x)                      # differentiable w.r.t. x
        J.sum().backward()
        with m.no_grad():
            return (J, x.grad, m.func.grad(coupled(m))(t(m, X3)), m.func.hessian(coupled(m))(x),
                    AF(m).hessian(coupled(m), x), AF(m).jacobian(rn_to_rn(m), x))
    both(scenario)
    with pytest.raises(RuntimeError, match=r"forward mode inside forward mode.*jacfwd\(jacrev"):
        ag.func.jacfwd(ag.func.jacfwd(coupled(ag)))(t(ag, X3))


@needs_forward
def test_func_hvp_forward_over_reverse():
    # the torch.func recipe: Hv = jvp(grad(f), (x,), (v,))[1]
    def scenario(m):
        return m.func.jvp(m.func.grad(coupled(m)), (t(m, X3),), (t(m, Y3),))
    got = both(scenario)
    want = AF(torch).hvp(coupled(torch), t(torch, X3), t(torch, Y3))[1]
    np.testing.assert_allclose(got[1].numpy(), want.numpy(), **TOL)


# ---- bad input: errors that say what is wrong -------------------------------------------------
def test_a_function_that_returns_a_non_tensor():
    x = t(ag, X3)
    for call in (lambda f: ag.autograd.functional.jacobian(f, x),
                 lambda f: ag.autograd.functional.vjp(f, x),
                 lambda f: ag.autograd.functional.hessian(f, x),
                 lambda f: ag.func.jacrev(f)(x)):
        with pytest.raises(TypeError, match="float.*Python number|Python number"):
            call(lambda a: float(a.sum()))
    with pytest.raises(TypeError, match="list: use a tuple"):
        ag.autograd.functional.jacobian(lambda a: [a, a], x)
    with pytest.raises(RuntimeError, match="must return a Tensor, got float"):
        ag.func.grad(lambda a: 3.0)(x)


def test_inputs_that_are_not_float_tensors():
    ints = ag.tensor([1, 2, 3])
    for fn in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"):
        with pytest.raises(RuntimeError, match=r"input 0 is a int64 tensor.*\.double\(\)"):
            getattr(ag.autograd.functional, fn)(lambda a: (a * a).sum(), ints)
    with pytest.raises(TypeError, match="the inputs must be a Tensor, got list"):
        ag.autograd.functional.jacobian(lambda a: a, [t(ag, X3)])
    with pytest.raises(RuntimeError, match=r"argument 0 is a int64 tensor"):
        ag.func.grad(lambda a: (a * a).sum())(ints)
    with pytest.raises(RuntimeError, match=r"primal 0 is a int64 tensor"):
        ag.func.jvp(lambda a: a, (ints,), (ints,))


def test_v_of_the_wrong_shape_or_count():
    AFa, x, y = ag.autograd.functional, t(ag, X3), t(ag, Y3)
    with pytest.raises(RuntimeError, match=r"vjp: v has shape \(3,\), but output 0 has shape "
                                           r"\(2,\)"):
        AFa.vjp(rn_to_rm(ag), x, x)
    with pytest.raises(RuntimeError, match=r"jvp: v has shape \(2,\), but input 0 has shape "
                                           r"\(3,\)"):
        AFa.jvp(rn_to_rm(ag), x, t(ag, V2))
    with pytest.raises(RuntimeError, match=r"entry 1 of v has shape \(2,\)"):
        AFa.hvp(two_inputs_scalar(ag), (x, y), (x, t(ag, V2)))
    with pytest.raises(RuntimeError, match="v is a tuple of 1 tensors, but there are 2 inputs"):
        AFa.vhp(two_inputs_scalar(ag), (x, y), (x,))
    with pytest.raises(RuntimeError, match="v can be left out only when"):
        AFa.vjp(rn_to_rm(ag), x)
    with pytest.raises(RuntimeError, match="v can be left out only when"):
        AFa.jvp(rn_to_rm(ag), x)
    with pytest.raises(RuntimeError, match=r"single element.*got shape \(2,\)"):
        AFa.hessian(rn_to_rm(ag), x)
    with pytest.raises(RuntimeError, match=r"single element.*got shape \(2,\)"):
        AFa.hvp(rn_to_rm(ag), x, x)
    _, vjp_fn = ag.func.vjp(rn_to_rm(ag), x)
    with pytest.raises(RuntimeError, match=r"cotangent 0 has shape \(3,\), but output 0"):
        vjp_fn(x)
    with pytest.raises(RuntimeError, match="scalar \\(0-d\\) Tensor.*vjp or jacrev"):
        ag.func.grad(rn_to_rm(ag))(x)


def test_bad_options():
    x = t(ag, X3)
    with pytest.raises(ValueError, match="strategy must be 'reverse-mode' or 'forward-mode'"):
        ag.autograd.functional.jacobian(rn_to_rm(ag), x, strategy="forward")
    with pytest.raises(NotImplementedError, match="create_graph=True and strategy='forward-mode'"):
        ag.autograd.functional.jacobian(rn_to_rm(ag), x, create_graph=True,
                                        strategy="forward-mode")
    with pytest.raises(RuntimeError, match="primals must be a tuple"):
        ag.func.jvp(ag.sin, x, (x,))
    with pytest.raises(RuntimeError, match=r"tangent 0 has shape \(2,\), but primal 0"):
        ag.func.jvp(ag.sin, (x,), (t(ag, V2),))
    with pytest.raises(ValueError, match="argnums=2, but the function was called with only 2"):
        ag.func.grad(two_inputs_scalar(ag), argnums=2)(x, x)
    with pytest.raises(RuntimeError, match=r"has_aux=True the function must return a tuple"):
        ag.func.grad(pow_reducer(ag), has_aux=True)(x)


# ---- the old names still work -----------------------------------------------------------------
def test_backward_and_grad_stay_where_they_were():
    x = t(ag, X3, requires_grad=True)
    (g,) = ag.autograd.grad((x * x).sum(), x)
    ag.autograd.backward((x * x).sum())
    np.testing.assert_allclose(g.numpy(), 2 * X3)
    np.testing.assert_allclose(x.grad.numpy(), 2 * X3)


# ---- the GPU backend (the strict CuPy stand-in) -------------------------------------------------
@pytest.fixture
def cuda():
    """The strict stand-in (tests/strict_cupy.py) as the "cuda" array module, for one test."""
    import strict_cupy
    from autogradkit import backend
    backend._use_cupy_module(strict_cupy)
    try:
        yield strict_cupy
    finally:
        backend._forget_cupy()


def on_both_devices(cuda, calls):
    x = t(ag, X3)
    for k, call in enumerate(calls):
        want, got = call(x), call(x.to("cuda"))
        flat_want = want if isinstance(want, tuple) else (want,)
        flat_got = got if isinstance(got, tuple) else (got,)
        for w, g in zip(flat_want, flat_got):
            assert type(g._data) is cuda.ndarray, f"call {k}: result not on the GPU"
            np.testing.assert_allclose(g.detach().cpu().numpy(), w.detach().numpy(),
                                       err_msg=f"call {k}", **TOL)


def test_on_the_gpu_backend(cuda):
    F, fn = ag.autograd.functional, ag.func
    on_both_devices(cuda, [
        lambda x: F.jacobian(rn_to_rn(ag), x),
        lambda x: F.jacobian(rn_to_rn(ag), x, create_graph=True),
        lambda x: F.hessian(coupled(ag), x),
        lambda x: F.vjp(rn_to_rn(ag), x, x),
        lambda x: F.jvp(rn_to_rn(ag), x, x),
        lambda x: F.hvp(coupled(ag), x, x),
        lambda x: F.vhp(coupled(ag), x, x),
        lambda x: fn.grad(coupled(ag))(x),
        lambda x: fn.jacrev(rn_to_rn(ag))(x),
        lambda x: fn.vjp(rn_to_rn(ag), x)[1](x),
    ])


@needs_forward
def test_forward_mode_on_the_gpu_backend(cuda):
    F, fn = ag.autograd.functional, ag.func
    on_both_devices(cuda, [
        lambda x: F.jacobian(rn_to_rn(ag), x, strategy="forward-mode"),
        lambda x: F.hessian(coupled(ag), x, outer_jacobian_strategy="forward-mode"),
        lambda x: fn.jvp(rn_to_rn(ag), (x,), (x,)),
        lambda x: fn.jacfwd(rn_to_rn(ag))(x),
        lambda x: fn.hessian(coupled(ag))(x),
    ])
