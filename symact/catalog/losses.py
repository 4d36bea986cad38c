"""Losses: each defined once as plain maths, differentiated with respect to its logits."""

from __future__ import annotations

from sympy import Abs, Eq, Piecewise, Sum, Symbol, cosh, exp, log

from .activations import GOODFELLOW
from .entry import Aux, Entry, Kind, Named, Param
from .symbols import X, b, d, i, j, k, l, m, n, p, t, w, y, yhat, yv, z, zv

pos_weight = Symbol("q", positive=True)
delta = Symbol("delta", positive=True)
beta = Symbol("beta", positive=True)
var = Symbol("v", positive=True)

#: the residual of a regression loss: the prediction z less the target y
_D = z - y

_SIG_Z = 1 / (1 + exp(-z))
#: the softmax denominator sums over its own index l, so that it can sit inside a sum over k
_SUM_EXP_Z = Sum(exp(zv[l]), (l, 0, n - 1))
_P = Named(p, i, exp(zv[i]) / _SUM_EXP_Z, "the softmax probabilities of the logits")
_ROW = dict(variable=zv, wrt=(zv[j],), named=(_P,), index_ranges=((j, n), (k, n), (l, n)))
_theta = Sum(w[k] * X[i, k], (k, 0, d - 1)) + b
_sig_theta = 1 / (1 + exp(-_theta))

LOSSES = (
    Entry(
        name="mse",
        kind=Kind.LOSS,
        summary=r"Mean squared error $(1/n) \sum_k (\hat{y}_k - y_k)^2$.",
        definition=Sum((yhat[k] - yv[k]) ** 2, (k, 0, n - 1)) / n,
        variable=yhat,
        wrt=(yhat[j],),
        aux=(Aux(yv, "the targets", "real", (n,)),),
        index_ranges=((j, n), (k, n)),
        aliases=("torch.nn.functional.mse_loss", "tf.keras.losses.MeanSquaredError", "optax.squared_error"),
        references=(GOODFELLOW,),
    ),
    Entry(
        name="sigmoid_cross_entropy_with_logits",
        kind=Kind.LOSS,
        summary=(
            r"Binary cross-entropy of the logit $z$ against the label $y$: "
            r"$-y \log \sigma(z) - (1 - y) \log(1 - \sigma(z))$."
        ),
        definition=-y * log(_SIG_Z) - (1 - y) * log(1 - _SIG_Z),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the label, in $[0, 1]$", "unit"),),
        aliases=(
            "tf.nn.sigmoid_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy_with_logits",
            "optax.sigmoid_binary_cross_entropy",
        ),
        references=(GOODFELLOW,),
    ),
    Entry(
        name="weighted_cross_entropy_with_logits",
        kind=Kind.LOSS,
        summary=(
            r"Sigmoid cross-entropy, positives weighted by $q$: "
            r"$-q y \log \sigma(z) - (1 - y) \log(1 - \sigma(z))$."
        ),
        definition=-pos_weight * y * log(_SIG_Z) - (1 - y) * log(1 - _SIG_Z),
        variable=z,
        wrt=(z,),
        params=(Param(pos_weight, 1, "`pos_weight`: the weight of the positive examples"),),
        aux=(Aux(y, r"the label, in $[0, 1]$", "unit"),),
        aliases=(
            "tf.nn.weighted_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy_with_logits(pos_weight=...)",
        ),
        references=("TensorFlow, `tf.nn.weighted_cross_entropy_with_logits`",),
    ),
    Entry(
        name="softmax_cross_entropy_with_logits",
        kind=Kind.LOSS,
        summary=r"Cross-entropy of $\operatorname{softmax}(z)$ against soft labels $y$: $-\sum_k y_k \log p_k$.",
        definition=-Sum(yv[k] * log(exp(zv[k]) / _SUM_EXP_Z), (k, 0, n - 1)),
        aux=(Aux(yv, r"soft labels: a probability vector, $\sum_k y_k = 1$", "simplex", (n,)),),
        aliases=(
            "tf.nn.softmax_cross_entropy_with_logits",
            "torch.nn.functional.cross_entropy (probabilities)",
            "optax.softmax_cross_entropy",
        ),
        references=(GOODFELLOW,),
        notes=r"The gradient $p - y$ needs $\sum_k y_k = 1$; without it the gradient is $p \sum_k y_k - y$.",
        **_ROW,
    ),
    Entry(
        name="sparse_softmax_cross_entropy_with_logits",
        kind=Kind.LOSS,
        summary=r"Cross-entropy of $\operatorname{softmax}(z)$ against an integer label $t$: $-\log p_t$.",
        definition=-log(exp(zv[t]) / _SUM_EXP_Z),
        aux=(Aux(t, r"the integer class label, $0 \le t < n$", "index"),),
        aliases=(
            "tf.nn.sparse_softmax_cross_entropy_with_logits",
            "torch.nn.functional.cross_entropy (class indices)",
            "optax.softmax_cross_entropy_with_integer_labels",
        ),
        references=(GOODFELLOW,),
        notes=r"The gradient is $p - \operatorname{onehot}(t)$, where $\operatorname{onehot}(t)_j = \delta_{jt}$.",
        **{**_ROW, "index_ranges": ((j, n), (k, n), (l, n), (t, n))},
    ),
    Entry(
        name="logistic_nll",
        kind=Kind.LOSS,
        summary=(
            r"Logistic-regression negative log-likelihood over $m$ samples $x_i$ (the rows of $X$) with labels "
            r"$y_i$, weights $w$ and bias $b$: "
            r"$-\sum_i [y_i \log \sigma(\theta_i) + (1 - y_i) \log(1 - \sigma(\theta_i))]$ "
            r"with $\theta_i = w^\top x_i + b$."
        ),
        definition=-Sum(yv[i] * log(_sig_theta) + (1 - yv[i]) * log(1 - _sig_theta), (i, 0, m - 1)),
        variable=w,
        wrt=(w[j], b),
        aux=(
            Aux(X, "the data, one sample per row", "real", (m, d)),
            Aux(yv, r"the labels, in $\lbrace 0, 1 \rbrace$", "binary", (m,)),
        ),
        index_ranges=((i, m), (j, d), (k, d)),
        aliases=("sklearn.linear_model.LogisticRegression (loss)", "optax.sigmoid_binary_cross_entropy (summed)"),
        references=(GOODFELLOW, "Bishop, Pattern Recognition and Machine Learning, 2006, section 4.3.2"),
    ),
    Entry(
        name="huber",
        kind=Kind.LOSS,
        summary=(
            r"Huber loss of the prediction $z$ against the target $y$, $d = z - y$: "
            r"$d^2/2$ for $|d| \le \delta$, else $\delta (|d| - \delta/2)$."
        ),
        definition=Piecewise((_D**2 / 2, Abs(_D) <= delta), (delta * (Abs(_D) - delta / 2), True)),
        variable=z,
        wrt=(z,),
        params=(Param(delta, 1, r"`delta`: where the loss turns from quadratic to linear"),),
        aux=(Aux(y, "the target", "real"),),
        subgradients=((y - delta, -delta), (y + delta, delta)),
        aliases=("torch.nn.functional.huber_loss", "tf.keras.losses.Huber", "optax.huber_loss"),
        references=("Huber, Robust estimation of a location parameter, Annals of Mathematical Statistics, 1964",),
        notes=(
            r"Per element, before any reduction: PyTorch's `huber_loss` and `tf.keras.losses.Huber` reduce by "
            r"the mean by default (`reduction='mean'`; Keras averages over the last axis, then over the batch), "
            r"`optax.huber_loss` returns the elements.  $\delta = 1$ by default in all three.  At $|d| = \delta$ "
            r"the quadratic branch is taken (PyTorch's `abs(d) < delta` picks the linear one there; "
            r"both give the same value and the same gradient, $-\delta$ or $\delta$)."
        ),
    ),
    Entry(
        name="smooth_l1",
        kind=Kind.LOSS,
        summary=(
            r"Smooth L1 loss of the prediction $z$ against the target $y$, $d = z - y$: "
            r"$d^2/(2\beta)$ for $|d| < \beta$, else $|d| - \beta/2$."
        ),
        definition=Piecewise((_D**2 / (2 * beta), Abs(_D) < beta), (Abs(_D) - beta / 2, True)),
        variable=z,
        wrt=(z,),
        params=(Param(beta, 1, r"`beta`: where the loss turns from quadratic to linear"),),
        aux=(Aux(y, "the target", "real"),),
        subgradients=((y - beta, -1), (y + beta, 1)),
        aliases=("torch.nn.functional.smooth_l1_loss", "torch.nn.SmoothL1Loss"),
        references=("Girshick, Fast R-CNN, ICCV 2015", "PyTorch, `torch.nn.SmoothL1Loss`"),
        notes=(
            r"Per element, before any reduction (PyTorch reduces by the mean by default).  $\beta = 1$ by default, "
            r"as PyTorch; there it equals huber with $\delta = 1$, and in general it is huber divided by $\beta$.  "
            r"PyTorch's $\beta = 0$ (plain L1) is outside this entry, whose $\beta$ is positive.  At "
            r"$|d| = \beta$ the linear branch is taken, as PyTorch's `abs(d) < beta`."
        ),
    ),
    Entry(
        name="l1",
        kind=Kind.LOSS,
        summary=r"Absolute error of the prediction $z$ against the target $y$: $|z - y|$.",
        definition=Abs(_D),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, "the target", "real"),),
        subgradients=((y, 0),),
        aliases=(
            "torch.nn.functional.l1_loss",
            "tf.keras.losses.MeanAbsoluteError",
            "tf.keras.losses.mean_absolute_error",
            "optax.l1_loss",
        ),
        references=("PyTorch, `torch.nn.L1Loss`",),
        notes=(
            r"Per element, before any reduction: PyTorch's `l1_loss` reduces by the mean by default, Keras's "
            r"`MeanAbsoluteError` averages over the last axis and then over the batch.  At $z = y$ the "
            r"subgradient 0 is chosen, as PyTorch and JAX ($\operatorname{sign}(0) = 0$)."
        ),
    ),
    Entry(
        name="log_cosh",
        kind=Kind.LOSS,
        summary=r"Log-cosh loss of the prediction $z$ against the target $y$: $\log \cosh(z - y)$.",
        definition=log(cosh(_D)),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, "the target", "real"),),
        aliases=("tf.keras.losses.LogCosh", "tf.keras.losses.log_cosh", "optax.log_cosh"),
        references=("TensorFlow, `tf.keras.losses.LogCosh`", "Optax, `optax.log_cosh`"),
        notes=(
            r"Per element, before any reduction: Keras's `LogCosh` averages over the last axis and then over the "
            r"batch; `optax.log_cosh` returns the elements.  Like $d^2/2$ for small $d = z - y$ and like "
            r"$|d| - \log 2$ for large.  Keras computes $d + \operatorname{softplus}(-2 d) - \log 2$ and Optax "
            r"`logaddexp(d, -d) - log(2)`, which do not overflow where $\cosh d$ does but lose the digits of "
            r"$d^2/2$ near 0; this kernel takes $\log(1 + 2 \sinh^2(d/2))$ there, with the rounding of $d$ carried."
        ),
    ),
    Entry(
        name="soft_margin",
        kind=Kind.LOSS,
        summary=(
            r"Soft-margin (logistic) loss of the score $z$ against the label $y \in \lbrace -1, 1 \rbrace$: "
            r"$\log(1 + e^{-y z})$."
        ),
        definition=log(1 + exp(-y * z)),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the label, $-1$ or $+1$", "sign"),),
        aliases=("torch.nn.functional.soft_margin_loss", "torch.nn.SoftMarginLoss"),
        references=(
            "PyTorch, `torch.nn.SoftMarginLoss`",
            "Bishop, Pattern Recognition and Machine Learning, 2006, section 7.1.2",
        ),
        notes=(
            r"Per element, before any reduction (PyTorch reduces by the mean by default).  Labels are $-1$ and "
            r"$+1$, not 0 and 1: with $t = (1 + y)/2$ it is `sigmoid_cross_entropy_with_logits` of $z$ against $t$.  "
            r"Neither PyTorch nor this kernel checks the labels; any real $y$ gives $\log(1 + e^{-y z})$."
        ),
    ),
    Entry(
        name="hinge",
        kind=Kind.LOSS,
        summary=(r"Hinge loss of the score $z$ against the label $y \in \lbrace -1, 1 \rbrace$: $\max(0, 1 - y z)$."),
        definition=Piecewise((1 - y * z, y * z < 1), (0, True)),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the label, $-1$ or $+1$", "sign"),),
        subgradients=((1 / y, 0),),
        aliases=("tf.keras.losses.Hinge", "tf.keras.losses.hinge", "optax.hinge_loss"),
        references=(
            "Cortes and Vapnik, Support-vector networks, Machine Learning, 1995",
            "TensorFlow, `tf.keras.losses.Hinge`",
        ),
        notes=(
            r"Per element, before any reduction: Keras's `Hinge` averages over the last axis and then over the "
            r"batch, and turns labels given as 0 and 1 into $-1$ and $+1$ first (this kernel takes $-1$ and $+1$ "
            r"as they are, unchecked); `optax.hinge_loss` returns the elements.  PyTorch has no elementwise "
            r"hinge loss: `torch.nn.MultiMarginLoss` on two classes with scores $(s_0, s_1)$ gives half of it, "
            r"with $z = s_1 - s_0$.  At $y z = 1$ the subgradient 0 is chosen (as relu'(0) = 0)."
        ),
    ),
    Entry(
        name="squared_hinge",
        kind=Kind.LOSS,
        summary=(
            r"Squared hinge loss of the score $z$ against the label $y \in \lbrace -1, 1 \rbrace$: "
            r"$\max(0, 1 - y z)^2$."
        ),
        definition=Piecewise(((1 - y * z) ** 2, y * z < 1), (0, True)),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the label, $-1$ or $+1$", "sign"),),
        subgradients=((1 / y, 0),),
        aliases=("tf.keras.losses.SquaredHinge", "tf.keras.losses.squared_hinge"),
        references=("TensorFlow, `tf.keras.losses.SquaredHinge`",),
        notes=(
            r"Per element, before any reduction: Keras's `SquaredHinge` averages over the last axis and then over "
            r"the batch, and turns labels given as 0 and 1 into $-1$ and $+1$ first (this kernel takes $-1$ and "
            r"$+1$ as they are, unchecked).  Differentiable everywhere: the gradient $-2 y (1 - y z)$ is 0 at "
            r"$y z = 1$ from both sides."
        ),
    ),
    Entry(
        name="poisson_nll",
        kind=Kind.LOSS,
        summary=(
            r"Poisson negative log-likelihood of the log-rate $z$ against the count $y$, without the constant "
            r"$\log y!$: $e^{z} - y z$."
        ),
        definition=exp(z) - y * z,
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the target: a count, or any $y \ge 0$", "real"),),
        aliases=("torch.nn.functional.poisson_nll_loss", "torch.nn.PoissonNLLLoss"),
        references=("PyTorch, `torch.nn.PoissonNLLLoss`", "TensorFlow, `tf.nn.log_poisson_loss`"),
        notes=(
            r"PyTorch's `poisson_nll_loss` with its defaults `log_input=True, full=False` (and the mean "
            r"reduction): the input is the log of the rate.  `tf.nn.log_poisson_loss(targets, log_input)` is the "
            r"same per element.  `tf.keras.losses.Poisson` takes the rate $\lambda = e^{z}$ itself: its "
            r"$\lambda - y \log(\lambda + 10^{-7})$ is this loss at $z = \log \lambda$ up to the $10^{-7}$.  "
            r"With `full=True` PyTorch adds Stirling's $y \log y - y + \log(2 \pi y)/2$ for "
            r"$y > 1$, which does not depend on $z$."
        ),
    ),
    Entry(
        name="kl_divergence",
        kind=Kind.LOSS,
        summary=(
            r"Pointwise Kullback-Leibler divergence of the log-probability $z$ against the target probability $y$: "
            r"$y (\log y - z)$, 0 at $y = 0$."
        ),
        definition=Piecewise((0, Eq(y, 0)), (y * log(y), True)) - y * z,
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the target probability, $y \ge 0$", "nonnegative"),),
        aliases=("torch.nn.functional.kl_div", "torch.nn.KLDivLoss", "optax.kl_divergence"),
        references=(
            "Kullback and Leibler, On information and sufficiency, Annals of Mathematical Statistics, 1951",
            "PyTorch, `torch.nn.KLDivLoss`",
        ),
        notes=(
            r"Per element, before any reduction: the input $z$ is a log-probability (a `log_softmax` output) and "
            r"the target $y$ a probability, PyTorch's `kl_div` with `log_target=False`; its default reduction "
            r"`'mean'` averages over every element, `'batchmean'` (the divergence) sums and divides by the batch.  "
            r"$y \log y$ is taken as 0 at $y = 0$, as PyTorch's `xlogy`, so the loss there is $-0 \cdot z$ "
            r"(nan at a nan $z$, as in PyTorch); labels below 0 raise ValueError.  The gradient is $-y$.  "
            r"`optax.kl_divergence(log_predictions, targets)` is the same per element and sums over the last "
            r"axis.  `tf.keras.losses.KLDivergence` takes probabilities $p$ and $y$, each clipped to "
            r"$[10^{-7}, 1]$, and sums $y \log(y / p)$ over the last axis: this loss at $z = \log p$ up to the "
            r"clipping, which also makes $y = 0$ count as $10^{-7}$.  With the target given as a "
            r"log-probability see `kl_divergence_log_target`."
        ),
    ),
    Entry(
        name="kl_divergence_log_target",
        kind=Kind.LOSS,
        summary=(
            r"Pointwise Kullback-Leibler divergence of the log-probability $z$ against the target given as a "
            r"log-probability $y$: $e^{y} (y - z)$."
        ),
        definition=exp(y) * (y - z),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the target log-probability, $y \le 0$ (any real $y$ is accepted)", "real"),),
        aliases=("torch.nn.functional.kl_div(log_target=True)", "optax.kl_divergence_with_log_targets"),
        references=("PyTorch, `torch.nn.KLDivLoss`", "Optax, `optax.kl_divergence_with_log_targets`"),
        notes=(
            r"Per element, before any reduction: PyTorch's `kl_div` with `log_target=True` (default reduction "
            r"`'mean'` over every element; `'batchmean'` gives the divergence), and "
            r"`optax.kl_divergence_with_log_targets(log_predictions, log_targets)`, which sums over the last axis.  "
            r"It is `kl_divergence` at the target $e^{y}$, without the special case at a zero target: "
            r"$y = -\infty$ gives nan here, as $0 \cdot \infty$ in PyTorch.  The gradient is $-e^{y}$."
        ),
    ),
    Entry(
        name="binary_cross_entropy",
        kind=Kind.LOSS,
        summary=(
            r"Binary cross-entropy of the probability $z$ against the label $y$: "
            r"$-y \log z - (1 - y) \log(1 - z)$, each term 0 where its weight is."
        ),
        definition=(
            -Piecewise((0, Eq(y, 0)), (y * log(z), True)) - Piecewise((0, Eq(y, 1)), ((1 - y) * log(1 - z), True))
        ),
        variable=z,
        wrt=(z,),
        aux=(Aux(y, r"the label, in $[0, 1]$", "unit"),),
        input_domain="unit",
        aliases=(
            "torch.nn.functional.binary_cross_entropy",
            "torch.nn.BCELoss",
            "tf.keras.losses.BinaryCrossentropy(from_logits=False)",
        ),
        references=("PyTorch, `torch.nn.BCELoss`", "TensorFlow, `tf.keras.losses.BinaryCrossentropy`"),
        notes=(
            r"Per element, before any reduction, of a probability $z$ (a `sigmoid` output); from the logit, "
            r"`sigmoid_cross_entropy_with_logits` is the accurate form.  Inputs outside $[0, 1]$ raise "
            r"ValueError, as PyTorch does; labels outside $[0, 1]$ too.  $0 \log 0$ is taken as 0, so $z = 0$ or "
            r"$1$ at the matching label gives 0.  Named conventions at the ends, which this kernel does not "
            r"follow (it computes the unclamped maths: $+\infty$ at $z = 0$ for $y > 0$ and at $z = 1$ for "
            r"$y < 1$, with an infinite gradient): PyTorch's clamp, each log at least $-100$ in the forward "
            r"(so the loss is at most 100), and $(z - y) / \max(z (1 - z), 10^{-12})$ as the gradient; "
            r"Keras's epsilon, $z$ clipped to $[10^{-7}, 1 - 10^{-7}]$ (Keras 2 also adds $10^{-7}$ inside "
            r"both logs), with the mean over the last axis."
        ),
    ),
    Entry(
        name="gaussian_nll",
        kind=Kind.LOSS,
        summary=(
            r"Gaussian negative log-likelihood of the mean $z$ against the target $y$ with the variance $v$, "
            r"without the constant: $(\log v + (z - y)^2 / v) / 2$."
        ),
        definition=(log(var) + _D**2 / var) / 2,
        variable=z,
        wrt=(z,),
        params=(Param(var, 1, r"`var`: the variance, a number or an array that broadcasts against the input"),),
        aux=(Aux(y, "the target", "real"),),
        aliases=("torch.nn.functional.gaussian_nll_loss", "torch.nn.GaussianNLLLoss"),
        references=(
            "Nix and Weigend, Estimating the mean and variance of the target probability distribution, ICNN 1994",
            "PyTorch, `torch.nn.GaussianNLLLoss`",
        ),
        notes=(
            r"PyTorch's `gaussian_nll_loss(input, target, var)` per element, with its default `full=False` (no "
            r"$\log(2 \pi)/2$) and before its mean reduction.  The variance is the keyword `var`, a number or an "
            r"array that broadcasts against the input; 0 or negative raises ValueError (PyTorch raises on a "
            r"negative one).  PyTorch clamps the variance to at least `eps` $= 10^{-6}$ (without a gradient "
            r"through the clamp); this kernel takes $v$ as given.  The gradient is with respect to the mean $z$ "
            r"only, $(z - y) / v$: the loss kernels differentiate one input, so the gradient with respect to the "
            r"variance, $(1 - (z - y)^2 / v) / (2 v)$, is not generated.  `symact check` runs at $v = 1$, the "
            r"default; the forward keeps its digits at any $v$, where $\log v$ and $(z - y)^2 / v$ cancel too."
        ),
    ),
)

__all__ = ["LOSSES"]
