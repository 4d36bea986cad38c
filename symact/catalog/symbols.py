"""The symbols every catalog entry is written with, so that forms from different entries agree."""

from __future__ import annotations

from sympy import IndexedBase, Symbol

#: the input of an elementwise function and its output y = f(x)
x = Symbol("x", real=True)
y = Symbol("y", real=True)
#: a logit and a label of an elementwise loss
z = Symbol("z", real=True)
label = Symbol("y", real=True)

#: sizes: classes, samples, features
n = Symbol("n", integer=True, positive=True)
m = Symbol("m", integer=True, positive=True)
d = Symbol("d", integer=True, positive=True)

#: indices: i, j free; k, l summed over
i = Symbol("i", integer=True, nonnegative=True)
j = Symbol("j", integer=True, nonnegative=True)
k = Symbol("k", integer=True, nonnegative=True)
l = Symbol("l", integer=True, nonnegative=True)  # noqa: E741 (the textbook name of a second summation index)
t = Symbol("t", integer=True, nonnegative=True)

#: vectors: the input a, softmax's output p, logits z, labels y, predictions yhat
a = IndexedBase("a", real=True)
p = IndexedBase("p", real=True)
o = IndexedBase("o", real=True)
zv = IndexedBase("z", real=True)
yv = IndexedBase("y", real=True)
yhat = IndexedBase("yhat", real=True)
#: logistic regression: data X[i, j], weights w[j], bias b
X = IndexedBase("X", real=True)
w = IndexedBase("w", real=True)
b = Symbol("b", real=True)
