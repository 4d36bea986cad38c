"""Activations: the classic elementwise and vector functions, each defined once as plain maths."""

from __future__ import annotations

from sympy import Abs, KroneckerDelta, Piecewise, Rational, Sum, Symbol, erf, exp, log, pi, sqrt, tanh

from .entry import Aux, Entry, Kind, Named, Param, Variant
from .symbols import a, i, j, k, n, o, p, x, y

GOODFELLOW = "Goodfellow, Bengio and Courville, Deep Learning, MIT Press, 2016, sections 6.2-6.3"

alpha = Symbol("alpha", positive=True)
beta = Symbol("beta", positive=True)
slope = Symbol("slope", positive=True)
lower = Symbol("lower", positive=True)
upper = Symbol("upper", positive=True)
keep_prob = Symbol("keep_prob", positive=True)
mask = Symbol("m", nonnegative=True)
r = Symbol("r", positive=True)

#: SELU's fixed constants (Klambauer et al. 2017), as the exact decimals the paper gives
_SELU_SCALE = Rational("1.0507009873554804934193349852946")
_SELU_ALPHA = Rational("1.6732632423543772848170429916717")


def _elementwise(name, summary, definition, **kw) -> Entry:
    return Entry(
        name=name,
        kind=Kind.ELEMENTWISE,
        summary=summary,
        definition=definition,
        variable=x,
        wrt=(x,),
        output=y,
        **kw,
    )


def _relu_like(negative_slope):
    """x for x > 0, else negative_slope * x: the condition x > 0 gives f'(0) = negative_slope."""
    return Piecewise((x, x > 0), (negative_slope * x, True))


ACTIVATIONS = (
    _elementwise(
        "step",
        r"Heaviside step: 1 for $x \ge 0$, else 0; its gradient is taken as 0 everywhere.",
        Piecewise((0, x < 0), (1, True)),
        kinks=(0,),
        subgradients=((0, 0),),
        aliases=("heaviside", "torch.heaviside", "jax.numpy.heaviside", "numpy.heaviside"),
        references=("McCulloch and Pitts, A logical calculus of the ideas immanent in nervous activity, 1943",),
        notes="The step is flat on both sides of 0; at 0 the subgradient 0 is chosen (the Dirac delta is not used).",
    ),
    _elementwise(
        "sigmoid",
        r"Logistic sigmoid $\sigma(x) = 1 / (1 + e^{-x})$.",
        1 / (1 + exp(-x)),
        aliases=(
            "logistic",
            "torch.sigmoid",
            "torch.nn.functional.sigmoid",
            "tf.nn.sigmoid",
            "tf.math.sigmoid",
            "jax.nn.sigmoid",
        ),
        references=(GOODFELLOW,),
    ),
    _elementwise(
        "tanh",
        r"Hyperbolic tangent $(e^{x} - e^{-x}) / (e^{x} + e^{-x})$.",
        tanh(x),
        aliases=("torch.tanh", "torch.nn.functional.tanh", "tf.nn.tanh", "tf.math.tanh", "jax.numpy.tanh"),
        references=(GOODFELLOW,),
    ),
    _elementwise(
        "relu",
        r"Rectified linear unit $\max(0, x)$.",
        _relu_like(0),
        kinks=(0,),
        subgradients=((0, 0),),
        aliases=("torch.relu", "torch.nn.functional.relu", "tf.nn.relu", "jax.nn.relu"),
        references=(
            "Nair and Hinton, Rectified linear units improve restricted Boltzmann machines, ICML 2010",
            "Glorot, Bordes and Bengio, Deep sparse rectifier neural networks, AISTATS 2011",
        ),
        notes=r"$\operatorname{relu}'(0) = 0$, as PyTorch and JAX choose (SymPy's `Heaviside(0) = 1/2` is not used).",
    ),
    _elementwise(
        "leaky_relu",
        r"Leaky ReLU: $x$ for $x > 0$, else $\mathit{slope} \cdot x$.",
        _relu_like(slope),
        params=(Param(slope, Rational(1, 100), r"slope for $x \le 0$ (PyTorch's `negative_slope`)"),),
        kinks=(0,),
        subgradients=((0, slope),),
        aliases=("torch.nn.functional.leaky_relu", "tf.nn.leaky_relu", "jax.nn.leaky_relu"),
        references=("Maas, Hannun and Ng, Rectifier nonlinearities improve neural network acoustic models, ICML 2013",),
        notes=(
            r"`tf.nn.leaky_relu` defaults to `alpha=0.2`; PyTorch and JAX default to 0.01.  "
            r"$f'(0) = \mathit{slope}$, as PyTorch's backward gives; JAX's `jnp.where(x >= 0, x, slope * x)` "
            r"differentiates the right branch there, 1."
        ),
    ),
    _elementwise(
        "prelu",
        r"Parametric ReLU: $x$ for $x > 0$, else $\alpha \cdot x$, with $\alpha$ learned.",
        _relu_like(alpha),
        params=(Param(alpha, Rational(1, 4), r"learnable slope for $x \le 0$ (initialised to 0.25)", learnable=True),),
        kinks=(0,),
        subgradients=((0, alpha),),
        aliases=("torch.nn.PReLU", "torch.nn.functional.prelu", "tf.keras.layers.PReLU"),
        references=("He, Zhang, Ren and Sun, Delving deep into rectifiers, ICCV 2015, arXiv:1502.01852",),
    ),
    _elementwise(
        "rrelu",
        r"Randomized leaky ReLU; in evaluation the slope for $x \le 0$ is $(\mathit{lower} + \mathit{upper}) / 2$.",
        _relu_like((lower + upper) / 2),
        params=(
            Param(lower, Rational(1, 8), "lower bound of the sampled slope"),
            Param(upper, Rational(1, 3), "upper bound of the sampled slope"),
        ),
        aux=(Aux(r, r"in training, a slope sampled from $U(\mathit{lower}, \mathit{upper})$ per element", "unit"),),
        variants=(
            Variant(
                "train",
                _relu_like(r),
                r"training mode: $r \sim U(\mathit{lower}, \mathit{upper})$ is sampled per element "
                "and kept for the backward pass",
            ),
        ),
        kinks=(0,),
        subgradients=((0, (lower + upper) / 2),),
        aliases=("torch.nn.functional.rrelu", "torch.nn.RReLU"),
        references=(
            "Xu, Wang, Chen and Li, Empirical evaluation of rectified activations in convolutional network, "
            "2015, arXiv:1505.00853",
        ),
    ),
    _elementwise(
        "elu",
        r"Exponential linear unit: $x$ for $x > 0$, else $\alpha \cdot (e^{x} - 1)$.",
        Piecewise((x, x > 0), (alpha * (exp(x) - 1), True)),
        params=(Param(alpha, 1, r"the value $-\alpha$ that $f$ approaches as $x \to -\infty$"),),
        kinks=(0,),
        subgradients=((0, alpha),),
        aliases=("torch.nn.functional.elu", "tf.nn.elu", "jax.nn.elu"),
        references=(
            "Clevert, Unterthiner and Hochreiter, Fast and accurate deep network learning by exponential "
            "linear units (ELUs), ICLR 2016, arXiv:1511.07289",
        ),
        notes=r"$f'(0) = \alpha$ as in PyTorch; for $\alpha = 1$ the derivative is continuous there.",
    ),
    _elementwise(
        "softplus",
        r"Softplus $\log(1 + e^{x})$, a smooth ReLU.",
        log(1 + exp(x)),
        aliases=("torch.nn.functional.softplus", "tf.nn.softplus", "tf.math.softplus", "jax.nn.softplus"),
        references=(
            "Dugas, Bengio, Belisle, Nadeau and Garcia, Incorporating second-order functional knowledge "
            "for better option pricing, NIPS 2000",
            GOODFELLOW,
        ),
    ),
    _elementwise(
        "dropout",
        r"Inverted dropout $m \cdot x / \mathit{keep\_prob}$ "
        r"with a $\operatorname{Bernoulli}(\mathit{keep\_prob})$ mask $m$.",
        mask * x / keep_prob,
        params=(Param(keep_prob, Rational(1, 2), "probability of keeping an element"),),
        aux=(
            Aux(mask, r"the mask: 1 where the element is kept (probability $\mathit{keep\_prob}$), else 0", "binary"),
        ),
        aliases=("torch.nn.functional.dropout", "tf.nn.dropout", "flax.linen.Dropout"),
        references=(
            "Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov, Dropout: a simple way to prevent "
            "neural networks from overfitting, JMLR 15, 2014",
        ),
        notes=(
            r"Given the mask, the gradient is $m / \mathit{keep\_prob}$; "
            r"PyTorch's `p` and TensorFlow 2's `rate` are $1 - \mathit{keep\_prob}$."
        ),
    ),
    _elementwise(
        "mish",
        r"Mish $x \cdot \tanh(\operatorname{softplus}(x))$.",
        x * tanh(log(1 + exp(x))),
        aliases=("torch.nn.functional.mish", "tfa.activations.mish", "jax.nn.mish"),
        references=("Misra, Mish: a self regularized non-monotonic activation function, 2019, arXiv:1908.08681",),
    ),
    _elementwise(
        "swish",
        r"Swish $x \cdot \sigma(\beta x)$.",
        x / (1 + exp(-beta * x)),
        params=(Param(beta, 1, r"the sharpness of the gate; $\beta = 1$ gives SiLU", learnable=True),),
        aliases=("tf.nn.silu(beta=...)", "tf.keras.activations.swish", "jax.nn.swish"),
        references=("Ramachandran, Zoph and Le, Searching for activation functions, 2017, arXiv:1710.05941",),
    ),
    _elementwise(
        "silu",
        r"Sigmoid linear unit $x \cdot \sigma(x)$.",
        x / (1 + exp(-x)),
        aliases=("torch.nn.functional.silu", "tf.nn.silu", "jax.nn.silu"),
        references=(
            "Elfwing, Uchibe and Doya, Sigmoid-weighted linear units for neural network function "
            "approximation in reinforcement learning, 2017, arXiv:1702.03118",
            "Hendrycks and Gimpel, Gaussian error linear units (GELUs), 2016, arXiv:1606.08415",
        ),
    ),
    _elementwise(
        "gelu",
        r"Gaussian error linear unit $x \Phi(x) = \frac{x}{2} \left(1 + \operatorname{erf}(x / \sqrt{2})\right)$.",
        x / 2 * (1 + erf(x / sqrt(2))),
        aliases=(
            "torch.nn.functional.gelu",
            "torch.nn.GELU",
            "tf.nn.gelu",
            "tf.keras.activations.gelu",
            "jax.nn.gelu(approximate=False)",
        ),
        references=("Hendrycks and Gimpel, Gaussian error linear units (GELUs), 2016, arXiv:1606.08415",),
        notes=(
            r"The exact form, PyTorch's default (`approximate='none'`); "
            r"JAX's `jax.nn.gelu` defaults to the tanh form."
        ),
    ),
    _elementwise(
        "selu",
        r"Scaled exponential linear unit: $\lambda x$ for $x > 0$, else $\lambda \alpha (e^{x} - 1)$, "
        r"with the fixed constants $\lambda \approx 1.0507$ and $\alpha \approx 1.6733$.",
        Piecewise((_SELU_SCALE * x, x > 0), (_SELU_SCALE * _SELU_ALPHA * (exp(x) - 1), True)),
        kinks=(0,),
        subgradients=((0, _SELU_SCALE * _SELU_ALPHA),),
        aliases=("torch.nn.functional.selu", "torch.nn.SELU", "tf.nn.selu", "tf.keras.activations.selu", "jax.nn.selu"),
        references=(
            "Klambauer, Unterthiner, Mayr and Hochreiter, Self-normalizing neural networks, NIPS 2017, "
            "arXiv:1706.02515",
        ),
        notes=(
            r"$\lambda = 1.0507009873554804934193349852946$ and $\alpha = 1.6732632423543772848170429916717$ "
            r"are taken as exact decimals (the paper's 32 digits); $f'(0) = \lambda \alpha$, the left limit, "
            "as PyTorch's `selu` backward gives."
        ),
    ),
    _elementwise(
        "celu",
        r"Continuously differentiable ELU: $x$ for $x > 0$, else $\alpha (e^{x / \alpha} - 1)$.",
        Piecewise((x, x > 0), (alpha * (exp(x / alpha) - 1), True)),
        params=(Param(alpha, 1, r"the value $-\alpha$ that $f$ approaches as $x \to -\infty$"),),
        kinks=(0,),
        subgradients=((0, 1),),
        aliases=("torch.nn.functional.celu", "torch.nn.CELU", "jax.nn.celu"),
        references=("Barron, Continuously differentiable exponential linear units, 2017, arXiv:1704.07483",),
        notes=r"$f'(0) = 1$ from both sides, for every $\alpha$.",
    ),
    _elementwise(
        "softsign",
        r"Softsign $x / (1 + |x|)$.",
        x / (1 + Abs(x)),
        aliases=("torch.nn.functional.softsign", "tf.nn.softsign", "tf.keras.activations.softsign", "jax.nn.soft_sign"),
        references=(
            "Bergstra, Desjardins, Lamblin and Bengio, Quadratic polynomials learn better image features, "
            "Technical report 1337, Universite de Montreal, 2009",
            "Glorot and Bengio, Understanding the difficulty of training deep feedforward neural networks, "
            "AISTATS 2010",
        ),
    ),
    _elementwise(
        "log_sigmoid",
        r"Log-sigmoid $\log \sigma(x) = -\operatorname{softplus}(-x)$.",
        log(1 / (1 + exp(-x))),
        aliases=("torch.nn.functional.logsigmoid", "torch.nn.LogSigmoid", "tf.math.log_sigmoid", "jax.nn.log_sigmoid"),
        references=(GOODFELLOW,),
    ),
    _elementwise(
        "gelu_tanh",
        r"GELU, tanh approximation "
        r"$\frac{x}{2} \left(1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715\, x^{3})\right)\right)$.",
        x / 2 * (1 + tanh(sqrt(2 / pi) * (x + Rational(44715, 1000000) * x**3))),
        aliases=(
            "torch.nn.functional.gelu(approximate='tanh')",
            "tf.nn.gelu(approximate=True)",
            "jax.nn.gelu",
            "gelu_new",
        ),
        references=("Hendrycks and Gimpel, Gaussian error linear units (GELUs), 2016, arXiv:1606.08415",),
        notes="The constant 0.044715 is taken as the exact decimal 44715/1000000.",
    ),
    _elementwise(
        "squareplus",
        r"Squareplus $(x + \sqrt{x^{2} + b}) / 2$ with $b = 4$, a smooth ReLU written with a square root.",
        (x + sqrt(x**2 + 4)) / 2,
        aliases=("jax.nn.squareplus",),
        references=("Barron, Squareplus: a softplus-like algebraic rectifier, 2021, arXiv:2112.11687",),
        notes="JAX's `jax.nn.squareplus` defaults to b = 4.",
    ),
)


_SUM_EXP = Sum(exp(a[k]), (k, 0, n - 1))
_SUM_EXP_NEG = Sum(exp(-a[k]), (k, 0, n - 1))
_SOFTMAX_P = Named(p, i, exp(a[i]) / _SUM_EXP, "the softmax probabilities")
_VECTOR = dict(kind=Kind.VECTOR, variable=a, wrt=(a[j],), index_ranges=((i, n), (j, n), (k, n)))

VECTOR_ACTIVATIONS = (
    Entry(
        name="softmax",
        summary=r"Softmax $p_i = e^{a_i} / \sum_k e^{a_k}$.",
        definition=exp(a[i]) / _SUM_EXP,
        output=p,
        named=(_SOFTMAX_P,),
        aliases=("torch.softmax", "torch.nn.functional.softmax", "tf.nn.softmax", "jax.nn.softmax"),
        references=(
            "Bridle, Probabilistic interpretation of feedforward classification network outputs, 1990",
            GOODFELLOW,
        ),
        **_VECTOR,
    ),
    Entry(
        name="log_softmax",
        summary=r"Log-softmax $o_i = a_i - \log \sum_k e^{a_k}$.",
        definition=a[i] - log(_SUM_EXP),
        output=o,
        named=(_SOFTMAX_P,),
        aliases=("torch.nn.functional.log_softmax", "tf.nn.log_softmax", "jax.nn.log_softmax"),
        references=(GOODFELLOW,),
        **_VECTOR,
    ),
    Entry(
        name="softmin",
        summary=r"Softmin $p_i = e^{-a_i} / \sum_k e^{-a_k}$, the softmax of the negated scores.",
        definition=exp(-a[i]) / _SUM_EXP_NEG,
        output=p,
        named=(Named(p, i, exp(-a[i]) / _SUM_EXP_NEG, "the softmin probabilities"),),
        aliases=("torch.nn.functional.softmin", "torch.nn.Softmin"),
        references=("PyTorch, torch.nn.Softmin",),
        notes="The smallest score gets the largest probability: softmin(a) = softmax(-a).",
        **_VECTOR,
    ),
    Entry(
        name="hardmax",
        summary=(
            r"Hardmax: the one-hot vector of $\operatorname{argmax}_k a_k$; "
            "its gradient is zero almost everywhere."
        ),
        definition=KroneckerDelta(i, Symbol("argmax", integer=True, nonnegative=True)),
        output=p,
        aliases=("tfa.seq2seq.hardmax", "onnx.Hardmax"),
        references=("ONNX operator Hardmax",),
        notes=(
            r"$\operatorname{argmax}(a)$ is piecewise constant in $a$, so every partial derivative is 0 "
            "where the maximum is unique."
        ),
        **_VECTOR,
    ),
)

__all__ = ["ACTIVATIONS", "VECTOR_ACTIVATIONS"]
