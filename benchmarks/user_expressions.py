"""Accuracy of user expressions: a wide family of activations from papers, spelled several ways, each generated
as a user's ``symact generate --expr`` would be and checked against mpmath as ``symact check`` checks the catalog.

    python benchmarks/user_expressions.py [--size small|full] [--only SUBSTRING] [--start N] [--stop N] [--budget S]
                                          [--out FILE]

Prints one row per expression: the worst ulp of each kernel over float32 and float64 and whether every kernel
is within its bound (forward 2 ulp, derivative and vjp 4), or the message generation gave.  The expressions are
the benchmark's, not the catalog's: nothing in symact knows them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import sympy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (label, expression in x, parameters as name=value)
FAMILY: list[tuple[str, str]] = [
    ("mish, spelled out", "x*tanh(log(1+exp(x)))"),
    ("mish, log(exp(x)+1)", "x*tanh(log(exp(x)+1))"),
    ("silu, quotient", "x/(1+exp(-x))"),
    ("silu, exp over 1+exp", "x*exp(x)/(1+exp(x))"),
    ("sigmoid, exp over 1+exp", "exp(x)/(1+exp(x))"),
    ("sigmoid, 1 - 1/(1+exp(x))", "1-1/(1+exp(x))"),
    ("tanh, exponentials", "(exp(x)-exp(-x))/(exp(x)+exp(-x))"),
    ("tanh, 2 sigma(2x) - 1", "2/(1+exp(-2*x))-1"),
    ("softplus, log(1+exp)", "log(1+exp(x))"),
    ("softplus, x + log(1+exp(-x))", "x+log(1+exp(-x))"),
    ("gelu, erf", "x/2*(1+erf(x/sqrt(2)))"),
    ("gelu, erfc", "x*erfc(-x/sqrt(2))/2"),
    ("gelu, tanh approximation", "x/2*(1+tanh(sqrt(2/pi)*(x+0.044715*x**3)))"),
    ("gelu, sigmoid approximation", "x/(1+exp(-1.702*x))"),
    ("quick gelu, x sigma(1.702 x)", "x*exp(1.702*x)/(1+exp(1.702*x))"),
    ("x erf(x)", "x*erf(x)"),
    ("softsign", "x/(1+Abs(x))"),
    ("squareplus b=4", "(x+sqrt(x**2+4))/2"),
    ("log sigmoid, -log(1+exp(-x))", "-log(1+exp(-x))"),
    ("log sigmoid, log of a quotient", "log(exp(x)/(1+exp(x)))"),
    ("elu, Piecewise", "Piecewise((x, x > 0), (exp(x) - 1, True))"),
    ("celu alpha=2", "Piecewise((x, x > 0), (2*(exp(x/2) - 1), True))"),
    ("selu, exact constants", "1.0507009873554805*Piecewise((x, x > 0), (1.6732632423543772*(exp(x) - 1), True))"),
    ("relu, Max", "Max(x, 0)"),
    ("leaky relu, Max", "Max(x, x/100)"),
    ("relu6", "Min(Max(x, 0), 6)"),
    ("hardtanh", "Min(Max(x, -1), 1)"),
    ("hard sigmoid", "Min(Max(x + 3, 0), 6)/6"),
    ("hard swish", "x*Min(Max(x + 3, 0), 6)/6"),
    ("tanhexp", "x*tanh(exp(x))"),
    ("isru", "x/sqrt(1+x**2)"),
    ("isrlu", "Piecewise((x, x >= 0), (x/sqrt(1 + x**2), True))"),
    ("bent identity", "(sqrt(x**2+1)-1)/2 + x"),
    ("asinh as a log", "log(x+sqrt(x**2+1))"),
    ("shifted softplus", "log(1+exp(x)) - log(2)"),
    ("log cosh", "log((exp(x)+exp(-x))/2)"),
    ("log of the sum of exponentials", "log(exp(x)+exp(-x))"),
    ("gaussian", "exp(-x**2)"),
    ("x times gaussian", "x*exp(-x**2/2)"),
    ("complementary log-log", "1 - exp(-exp(x))"),
    ("gumbel cdf", "exp(-exp(-x))"),
    ("exponential", "exp(x)"),
    ("expm1 spelled", "exp(x) - 1"),
    ("absolute value", "Abs(x)"),
    ("x abs(x)", "x*Abs(x)"),
    ("swish beta=1.5", "x/(1+exp(-1.5*x))"),
    ("softplus of 2x over 2", "log(1+exp(2*x))/2"),
    ("tanh of softplus", "tanh(log(1+exp(x)))"),
    ("sigmoid times tanh", "tanh(x)/(1+exp(-x))"),
    # a second family, added while the generator's accuracy net grew (multiple zeros, far-out leading terms,
    # shifted differences): none of these is in the catalog or named anywhere in symact
    ("x sigma(2x) via tanh", "x*(1+tanh(x))/2"),
    ("softplus, stable spelling", "Max(x,0) + log(1+exp(-Abs(x)))"),
    ("pseudo huber", "sqrt(1+x**2) - 1"),
    ("pseudo huber delta 2", "4*(sqrt(1+(x/2)**2) - 1)"),
    ("tanhshrink", "x - tanh(x)"),
    ("softsign shrink", "x - x/(1+Abs(x))"),
    ("log(1 + x^2)", "log(1+x**2)"),
    ("exp(x) - 1 - x", "exp(x) - 1 - x"),
    ("sigmoid squared", "1/(1+exp(-x))**2"),
    ("tanh(x/2) via exp", "(exp(x)-1)/(exp(x)+1)"),
    ("log cosh, direct", "log(cosh(x))"),
    ("exp(-|x|)", "exp(-Abs(x))"),
    ("squared relu", "Max(0, x)**2"),
    ("x erfc(x)", "x*erfc(x)"),
    ("sech squared", "1 - tanh(x)**2"),
    ("sigmoid' as a function", "exp(x)/(1+exp(x))**2"),
    ("x softplus(x)", "x*log(1+exp(x))"),
    ("softplus squared", "log(1+exp(x))**2"),
    ("sqrt(x^2 + 1)", "sqrt(x**2+1)"),
    ("isru as a cdf", "(1+x/sqrt(1+x**2))/2"),
    ("erf(x/sqrt 2)", "erf(x/sqrt(2))"),
    ("normal cdf", "(1+erf(x/sqrt(2)))/2"),
    ("smelu-like quadratic", "Piecewise((0, x <= -1), ((x+1)**2/4, x < 1), (x, True))"),
    ("serf", "x*erf(log(1+exp(x)))"),
    ("logish", "x*log(1+1/(1+exp(-x)))"),
    ("soft clipping", "log((1+exp(x))/(1+exp(x-1)))"),
    ("swish via tanh", "x*(1+tanh(x/2))/2"),
    ("elish", "Piecewise((x/(1+exp(-x)), x >= 0), ((exp(x)-1)/(1+exp(-x)), True))"),
    ("exp(tanh(x))", "exp(tanh(x))"),
    ("tanh(tanh(x))", "tanh(tanh(x))"),
    ("x exp(-x^2) + x", "x*exp(-x**2) + x"),
    ("sigmoid of sigmoid", "1/(1+exp(-1/(1+exp(-x))))"),
    # a third family (smish, pflu, elliot, differences that are identities or cancel far out, rational functions):
    # written after the second had passed, to find what it had not
    ("smish", "x*tanh(log(1+1/(1+exp(-x))))"),
    ("pflu", "x*(1+x/sqrt(1+x**2))/2"),
    ("bipolar sigmoid", "(1-exp(-x))/(1+exp(-x))"),
    ("log sigmoid, x - softplus", "x - log(1+exp(x))"),
    ("softplus beta 1/2", "2*log(1+exp(x/2))"),
    ("sigmoid via tanh", "(1+tanh(x/2))/2"),
    ("swish beta 1.5 via tanh", "x*(1+tanh(0.75*x))/2"),
    ("erf sigmoid", "(1+erf(x))/2"),
    ("normal pdf", "exp(-x**2/2)/sqrt(2*pi)"),
    ("lisht", "x*tanh(x)"),
    ("penalized tanh", "Piecewise((tanh(x), x > 0), (tanh(x)/4, True))"),
    ("rectified tanh", "Max(tanh(x), 0)"),
    ("isru alpha 1/2", "x/sqrt(1+x**2/2)"),
    ("logit of sigmoid", "log((1/(1+exp(-x)))/(1-1/(1+exp(-x))))"),
    ("softplus difference", "log(1+exp(x)) - log(1+exp(-x))"),
    ("sigmoid' via exp(-x)", "exp(-x)/(1+exp(-x))**2"),
    ("x/(1+x^2)", "x/(1+x**2)"),
    ("elliot sigmoid", "x/(2*(1+Abs(x))) + 1/2"),
    ("relu squared, Piecewise", "Piecewise((x**2, x > 0), (0, True))"),
    ("exp of softplus", "exp(log(1+exp(x)))"),
    ("normal log pdf", "-x**2/2 - log(sqrt(2*pi))"),
    ("log erfc", "log(erfc(x))"),
    ("log(1 + erf(x))", "log(1+erf(x))"),
    ("x sigma sigma(-x)", "x/(1+exp(-x))*(1-1/(1+exp(-x)))"),
    ("cauchy", "1/(1+x**2)"),
    ("sqrt(1+exp(2x))", "sqrt(1+exp(2*x))"),
    ("tanh squared", "tanh(x)**2"),
    ("x^3 - x", "x**3 - x"),
    ("softplus minus relu", "log(1+exp(x)) - Max(x, 0)"),
    ("swish minus x", "x/(1+exp(-x)) - x"),
    ("mish minus x", "x*tanh(log(1+exp(x))) - x"),
    ("sigmoid minus 1/2", "1/(1+exp(-x)) - 1/2"),
    ("tanh(x) - x", "tanh(x) - x"),
    ("log cosh minus |x|", "log(cosh(x)) - Abs(x)"),
    ("exp(x) sigma(-x)", "exp(x)*(1-1/(1+exp(-x)))"),
    ("shifted gaussian", "exp(-(x-1)**2/2)"),
    ("softplus(x - 1)", "log(1+exp(x-1))"),
    ("hard swish, Piecewise", "Piecewise((0, x <= -3), (x*(x+3)/6, x < 3), (x, True))"),
    ("sigmoid(2x + 1)", "1/(1+exp(-(2*x+1)))"),
    ("gelu, 2 - erfc", "x*(2 - erfc(x/sqrt(2)))/2"),
    ("elu via Min and Max", "Max(x, 0) + Min(exp(x) - 1, 0)"),
    ("celu via Min", "Max(0, x) + Min(0, 2*(exp(x/2) - 1))"),
    ("erf(x) - 2x/sqrt(pi)", "erf(x) - 2*x/sqrt(pi)"),
    ("x^2 sigma(x)", "x**2/(1+exp(-x))"),
    # a fourth family, written with the double-double accuracy net (compositions whose float64 roundings compound):
    ("x tanh(x) sigma(x)", "x*tanh(x)/(1+exp(-x))"),
    ("sigma(2x) as a quotient", "exp(x)/(exp(x)+exp(-x))"),
    ("squareplus b=1", "(x+sqrt(x**2+1))/2"),
    ("x (1 + erf(x))", "x*(1+erf(x))"),
    ("silu' spelled", "(1 + x*(1-1/(1+exp(-x))))/(1+exp(-x))"),
    ("x exp(-|x|)", "x*exp(-Abs(x))"),
    ("swish beta 2", "x/(1+exp(-2*x))"),
    ("gaussian'' shape", "exp(-x**2)*(1-2*x**2)"),
    ("tanh cubed", "tanh(x)**3"),
    ("x tanh(x/2)", "x*tanh(x/2)"),
    ("tanh as 1 - 2/(e^2x + 1)", "1 - 2/(exp(2*x)+1)"),
    ("tanh as (e^2x - 1)/(e^2x + 1)", "(exp(2*x)-1)/(exp(2*x)+1)"),
    ("sigmoid difference", "1/(1+exp(-x)) - 1/(1+exp(1-x))"),
    ("x^2 exp(-x^2)", "x**2*exp(-x**2)"),
    ("log(1 + exp(-x^2))", "log(1+exp(-x**2))"),
    ("smooth abs", "sqrt(x**2 + 1/1000000)"),
    ("x/(1+|x|)^2", "x/(1+Abs(x))**2"),
    ("sigma(-2x) via tanh", "(1-tanh(x))/2"),
    ("x (tanh(x) + 1)", "x*(tanh(x)+1)"),
    ("leaky relu 0.1, Max", "Max(x, 0.1*x)"),
    ("erf squared", "erf(x)**2"),
    ("inverse sqrt", "1/sqrt(1+x**2)"),
    ("softplus times sigmoid", "log(1+exp(x))/(1+exp(-x))"),
    ("tanh(softplus(x))^2", "tanh(log(1+exp(x)))**2"),
    ("sigmoid(x)^3", "1/(1+exp(-x))**3"),
    ("x sigma(x)^2", "x/(1+exp(-x))**2"),
]


def run_one(label: str, text: str, size: str, directory: Path):
    from symact.check import check_entry
    from symact.derive import user_entry
    from symact.emit import emit, render
    from symact.parse import parse_sympy

    x = sympy.Symbol("x", real=True)
    name = "u" + format(abs(hash(text)) % 10**8, "08d")
    entry = user_entry(name, parse_sympy(text, {"x": x}), x)
    emit({f"{name}.py": render(entry)}, directory, complete=False)
    results = check_entry(entry, directory, size)
    worst: dict[str, float] = {}
    passed = True
    for r in results:
        worst[r.kernel] = max(worst.get(r.kernel, 0.0), r.max_ulp)
        passed &= r.passed
    return worst, passed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=("small", "full"))
    parser.add_argument("--only", default="")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--start", type=int, default=0, help="begin at the Nth expression of the family (from 0)")
    parser.add_argument("--stop", type=int, default=None, help="end before the Nth expression (to split a run)")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per expression (default 600)")
    args = parser.parse_args(argv)
    from symact.budget import run_limited

    kernels = ("forward", "derivative", "vjp", "vjp_from_output")
    lines = ["| expression | " + " | ".join(kernels) + " | within bounds | s |", "|---" * (len(kernels) + 3) + "|"]
    print(lines[0], flush=True)
    ok = 0
    chosen = [
        (label, text) for label, text in FAMILY[args.start : args.stop] if args.only in label or args.only in text
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in chosen:
            start = time.perf_counter()
            try:
                worst, passed = run_limited(run_one, args.budget, label, text, args.size, Path(tmp))
                cells = [f"{worst[k]:.3g}" if k in worst else "-" for k in kernels]
                verdict = "yes" if passed else "**no**"
            except Exception as error:  # noqa: BLE001 - the benchmark reports every failure and goes on
                cells = ["-"] * len(kernels)
                verdict = f"error: {type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]}"
                if "-v" in sys.argv:
                    traceback.print_exc()
                passed = False
            ok += passed
            line = f"| {label}: `{text}` | " + " | ".join(cells) + f" | {verdict} | {time.perf_counter() - start:.0f} |"
            print(line, flush=True)
            lines.append(line)
    summary = f"\n{ok} of {len(chosen)} expressions within every bound ({args.size} check)."
    print(summary)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n" + summary + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
