"""The built-in explanations: one short text per view, with its key formula and its paper."""

PHASE = """
**The order–chaos phase diagram.** A wide random network z^l = W^l φ(z^{l−1}) + b^l with
W ~ N(0, σ_w²/N) and b ~ N(0, σ_b²) sends every input to a fixed length q\\* and every pair of inputs
to a fixed correlation c\\*. Whether nearby inputs are pulled together or pushed apart is decided by

  χ₁ = σ_w² E[φ'(√q\\* z)²],  z ~ N(0, 1).

χ₁ < 1 is the **ordered** phase (c\\* = 1, gradients vanish), χ₁ > 1 the **chaotic\\** phase
(c\\* < 1, gradients explode); the **critical line** χ₁ = 1 separates them. Signals survive about
ξ_c = −1/log χ_c layers, and networks train up to a depth of about 6 ξ_c.
Click anywhere on the diagram to move the current point there.

*Poole et al. 2016, "Exponential expressivity in deep neural networks through transient chaos";
Schoenholz et al. 2017, "Deep information propagation" (Fig. 1, the 6 ξ_c trainability bound).*
"""

TRAJECTORIES = """
**Signals through depth.** The length of an input follows the *length map*

  q^l = σ_w² E[φ(√q^{l−1} z)²] + σ_b²,

and the correlation of two inputs the *correlation map*
c^l = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q^l, with (u₁, u₂) Gaussian of correlation c^{l−1}.
q^l converges in a few layers (depth scale ξ_q); c^l approaches c\\* over ξ_c layers.
The orange points are finite networks of the chosen width (exact Gram-matrix sampling): their
mean ± 2 standard errors and the 5–95 % band over seeds. They agree with the mean field up to
O(1/width) corrections.

*Poole et al. 2016 (eqs. 3–5); Schoenholz et al. 2017 (§3).*
"""

MAPS = """
**Iterated maps (cobweb plots).** A fixed point is where a map crosses the identity line; the
staircase is the iteration c^{l+1} = C(c^l) (at fixed q = q\\*) and q^{l+1} = V(q^l).
The slope at c = 1 is χ₁: if χ₁ < 1 the point c = 1 attracts (ordered), if χ₁ > 1 it repels
and a second fixed point c\\* < 1 appears (chaotic). The slope at c\\* is χ_c, and
ξ_c = −1/log χ_c.

*Poole et al. 2016 (Fig. 2); Schoenholz et al. 2017 (eq. 9).*
"""

FUNCTIONS = """
**Function space.** An infinitely wide network is a Gaussian process, with the NNGP kernel
K^L(x, x') obtained by iterating the same maps from K⁰ = σ_w² x·x'/d + σ_b². On the unit circle
x(θ) = (cos θ, sin θ) every input has the same length, so K^L depends only on the angle.
Deep in the **ordered** phase the samples are smooth and nearly flat (all inputs look alike);
in the **chaotic\\** phase they are rough (nearby inputs decorrelate).
Click the plot to add training points: the view switches to the exact GP posterior
(mean ± 2 sd and three posterior draws, noise variance 10⁻³). "Clear data" returns to the prior.

*Lee et al. 2018, "Deep neural networks as Gaussian processes"; Neal 1996.*
"""

READOUT = """
**The numbers.** q\\* and c\\* are the fixed points of the length and correlation maps;
χ₁ = σ_w² E[φ'(√q\\* z)²] and χ_c = σ_w² E[φ'(u₁)φ'(u₂)] at c\\*; the length depth scale is
ξ_q = −1/log(χ₁ + σ_w² E[φ''φ]) (V′(q\\*), the slope of the length map at q\\*), and ξ_c = −1/log χ_c. With dropout
(keep-probability ρ) the weights are rescaled by 1/ρ and c\\* < 1 even in the ordered phase, so
there is no true critical line: the dashed curve marks where ξ_c peaks instead.

*Schoenholz et al. 2017 (§3–5); expectations by Gauss–Hermite quadrature in float64.*
"""

BATCHNORM = """
**Batch norm explodes gradients at initialisation.** With batch normalisation each unit's
pre-activations h over a batch of B inputs are centred and scaled to unit variance,
BN(h) = √B · Gh/‖Gh‖ with G = I − 11ᵀ/B, before φ is applied. The normalisation makes the
law of the batch independent of σ_w² (and σ_b² is removed with the mean): there is no
(σ_w², σ_b²) plane any more, only φ and B.

Backwards, the Jacobian of BN projects out the mean and the radial direction Gh and rescales by
√B/‖Gh‖. Averaged over the batch law, each layer multiplies the squared gradient norm by the same
factor λ(φ, B) > 1, so ‖∂L/∂x^l‖² grows like λ^(L−l) towards the input, with depth scale
ξ = 1/log λ. For linear φ, λ = (B−2)/(B−3) (the 1/(B−3) is E[1/χ²_(B−1)], why B ≥ 4 is needed).
λ → 1 only as B → ∞, and no choice of σ_w², σ_b² makes it ≤ 1: **no ordered phase remains**,
and a deep BN network cannot be made critical by its initialisation.

Forwards the picture is the opposite: the batch kernel forgets its input fast. Deviations from the
symmetric fixed point shrink by λ_L and λ_M < 1 per layer (the readout gives them; linear φ:
(B−1)/(B+1)), and two different batches decorrelate by λ_x per layer.
The orange points (press Run) are dense finite networks of width ≤ 512 with ≤ 8 seeds.

*Yang, Pennington, Rao, Sohl-Dickstein, Schoenholz 2019, "A mean field theory of batch
normalization" (ICLR).*
"""
