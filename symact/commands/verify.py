"""``symact verify``: is a hand-derived formula right?  A proof, or a counterexample.

Exit codes: 0 equal, 1 not equal, 2 unusable input (or no verdict within the time limit).
``--`` ends the options, so a formula may begin with a minus sign.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Exit codes: 0 equal, 1 not equal, 2 unusable input or no verdict in time. "
        'Use -- before a formula that begins with a minus sign: symact verify -- "-softplus(-x)" "log(sigmoid(x))".'
    )
    parser.add_argument("lhs", metavar="LHS", help='the left side, e.g. "diff(sigmoid(x), x)"')
    parser.add_argument("rhs", metavar="RHS", help='the right side, e.g. "sigmoid(x)*(1 - sigmoid(x))"')
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument("--latex", action="store_true", help="read both sides as LaTeX")
    parser.add_argument("--var", help="the variable whose kinks are sampled on both sides (default: every real symbol)")
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="COND",
        help='an assumption: "alpha>0", "x>=0", "0<y<1", "alpha=1" or "Sum(y[k], (k, 0, n - 1)) = 1" (repeatable)',
    )


def run(args: argparse.Namespace) -> int:
    import json

    from ..verify import verify_command

    verdict = verify_command(args.lhs, args.rhs, latex=args.latex, var=args.var, assume=args.assume)
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(_text(verdict))
    return 0 if verdict.equal else 1


def _text(verdict) -> str:
    lines = [f"lhs: {verdict.lhs}", f"rhs: {verdict.rhs}"]
    lines += [f"  read {reading}" for reading in verdict.readings]
    if verdict.equal:
        lines.append(f"EQUAL ({verdict.method}, {verdict.seconds:.2f} s)")
    else:
        lines.append(f"NOT EQUAL ({verdict.seconds:.2f} s)")
        example = verdict.counterexample
        point = ", ".join(f"{k} = {v}" for k, v in example["point"].items())
        lines.append(f"  at   {point}")
        lines.append(f"  lhs  {example['lhs']}")
        lines.append(f"  rhs  {example['rhs']}")
        if example["parameters"]:
            params = ", ".join(f"{k} = {v}" for k, v in example["parameters"].items())
            lines.append(f"  the claim fails for the parameter values {params}")
        return "\n".join(lines)
    if verdict.note:
        lines.append(f"  {verdict.note}")
    return "\n".join(lines)
