"""A latent-variable model whose evidence and posterior are known exactly: linear-Gaussian.

    z ~ N(0, I_d),    x | z ~ N(W z + b, σ² I_D)

is a VAE with a linear decoder (probabilistic PCA). Because log p(x) and p(z|x) are closed form,
every statement about variational inference (log p(x) = ELBO + KL, the ELBO peaks at the true
posterior, the importance-weighted bound tightens with K) can be checked to rounding error or to
Monte Carlo error instead of being taken on trust. Conventions: x has shape (..., D), z and the
parameters of q have shape (..., d); leading dimensions broadcast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cilab.core.errors import CilabError
from cilab.theory.gaussian import (
    LOG_2PI,
    diag_gaussian_log_prob,
    kl_to_standard_normal,
    sample_diag_gaussian,
    standard_normal_log_prob,
)


@dataclass(frozen=True)
class LinearGaussianModel:
    """z ~ N(0, I_d), x | z ~ N(weight @ z + bias, noise_std² I_D)."""

    weight: Tensor  # (D, d)
    bias: Tensor  # (D,)
    noise_std: float

    def __post_init__(self) -> None:
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise CilabError("weight must be (D, d) and bias (D,)")
        if not self.noise_std > 0:
            raise CilabError(f"noise_std must be positive, got {self.noise_std}")

    @property
    def data_dim(self) -> int:
        return self.weight.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def noise_var(self) -> float:
        return self.noise_std**2

    @classmethod
    def random(
        cls,
        latent_dim: int,
        data_dim: int,
        noise_std: float = 1.0,
        *,
        orthogonal_columns: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> LinearGaussianModel:
        """A random model; `orthogonal_columns` makes WᵀW diagonal, hence p(z|x) diagonal.

        A diagonal posterior lies inside the diagonal-Gaussian family of q, so the best q equals
        it exactly; with general W the posterior is correlated and a diagonal q cannot reach it.
        """
        if not 1 <= latent_dim <= data_dim:
            raise CilabError(f"need 1 <= latent_dim <= data_dim, got {latent_dim}, {data_dim}")
        g = torch.randn(data_dim, latent_dim, generator=generator, dtype=dtype)
        if orthogonal_columns:
            q, _ = torch.linalg.qr(g)  # (D, d), orthonormal columns
            g = q * g.norm(dim=0)  # keep each column's random length
        bias = torch.randn(data_dim, generator=generator, dtype=dtype)
        return cls(weight=g, bias=bias, noise_std=noise_std)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Ancestral sampling: z (n, d) from the prior, then x (n, D) from p(x|z)."""
        dtype = self.weight.dtype
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=dtype)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=dtype)
        return z, self.decode(z) + self.noise_std * noise

    def decode(self, z: Tensor) -> Tensor:
        """Mean of p(x|z): (..., d) -> (..., D)."""
        return z @ self.weight.T + self.bias

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z), the reconstruction term: (..., D), (..., d) -> (...)."""
        sq = (x - self.decode(z)).square().sum(dim=-1)
        return -0.5 * (self.data_dim * (LOG_2PI + math.log(self.noise_var)) + sq / self.noise_var)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x|z) + log p(z)."""
        return self.log_likelihood(x, z) + standard_normal_log_prob(z)

    def log_marginal(self, x: Tensor) -> Tensor:
        """Exact evidence log p(x) = log N(x; b, WWᵀ + σ²I): (..., D) -> (...)."""
        eye = torch.eye(self.data_dim, dtype=self.weight.dtype)
        chol = torch.linalg.cholesky(self.weight @ self.weight.T + self.noise_var * eye)
        resid = (x - self.bias).reshape(-1, self.data_dim)  # (N, D), N = prod(batch)
        white = torch.linalg.solve_triangular(chol, resid.T, upper=False)  # (D, N)
        maha = white.square().sum(dim=0).reshape(x.shape[:-1])  # (...)
        logdet = 2.0 * chol.diagonal().log().sum()
        return -0.5 * (self.data_dim * LOG_2PI + logdet + maha)

    def posterior_precision(self) -> Tensor:
        """Λ = I + WᵀW/σ² (d, d); it does not depend on x."""
        eye = torch.eye(self.latent_dim, dtype=self.weight.dtype)
        return eye + self.weight.T @ self.weight / self.noise_var

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Exact p(z|x) = N(m, Λ⁻¹) with m = Λ⁻¹ Wᵀ(x − b)/σ²: mean (..., d), covariance (d, d)."""
        cov = torch.linalg.inv(self.posterior_precision())
        mean = (x - self.bias) @ self.weight / self.noise_var @ cov  # (..., D) -> (..., d)
        return mean, cov

    def posterior_log_prob(self, z: Tensor, x: Tensor) -> Tensor:
        """log p(z|x): (..., d), (..., D) -> (...)."""
        mean, cov = self.posterior(x)
        dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
        return dist.log_prob(z)

    def mean_field_optimum(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The best diagonal q: the posterior mean and variances 1/Λ_jj (not diag of Λ⁻¹).

        Maximizing the ELBO over diagonal q matches the posterior's precision, not its
        covariance, so a correlated posterior is approximated by a too-narrow q.
        Returns (mean (..., d), log_var (d,)).
        """
        mean, _ = self.posterior(x)
        return mean, -self.posterior_precision().diagonal().log()

    def kl_to_posterior(self, x: Tensor, q_mean: Tensor, q_log_var: Tensor) -> Tensor:
        """KL(q(z) || p(z|x)) for a diagonal q, in closed form: the gap log p(x) − ELBO(q)."""
        prec = self.posterior_precision()
        post_mean, _ = self.posterior(x)
        diff = post_mean - q_mean  # (..., d)
        trace = (prec.diagonal() * q_log_var.exp()).sum(dim=-1)
        maha = ((diff @ prec) * diff).sum(dim=-1)
        logdet_prec = torch.linalg.slogdet(prec).logabsdet
        return 0.5 * (trace + maha - self.latent_dim - logdet_prec - q_log_var.sum(dim=-1))

    def importance_weight_chi2(self, x: Tensor, q_mean: Tensor, q_log_var: Tensor) -> Tensor:
        """χ²(p(z|x) || q) = Var_q[w] / p(x)² for w = p(x, z)/q(z); inf where it diverges.

        It sets the importance-weighted bound's gap: log p(x) − E[L_K] ≈ χ²/(2K) for large K.
        ∫ p²/q is a Gaussian integral with precision A = 2Λ − Λ_q, finite iff A is positive
        definite (q not much narrower than the posterior in any direction).
        """
        prec = self.posterior_precision()
        post_mean, _ = self.posterior(x)
        delta = (post_mean - q_mean).unsqueeze(-1)  # (..., d, 1), coordinates centred at q_mean
        a = 2.0 * prec - torch.diag_embed((-q_log_var).exp())  # (..., d, d)
        chol, info = torch.linalg.cholesky_ex(a)
        lam_delta = prec @ delta  # (..., d, 1)
        solved = torch.cholesky_solve(lam_delta, chol)  # A⁻¹ Λ δ
        quad = 2.0 * (lam_delta * solved).sum(dim=(-2, -1)) - (delta * lam_delta).sum(dim=(-2, -1))
        logdet_a = 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(dim=-1)
        logdet_prec = torch.linalg.slogdet(prec).logabsdet
        log_int = logdet_prec + 0.5 * q_log_var.sum(dim=-1) - 0.5 * logdet_a + quad
        chi2 = torch.expm1(log_int)
        return torch.where(info == 0, chi2, torch.full_like(chi2, math.inf))


def _broadcast_q(x: Tensor, q_mean: Tensor, q_log_var: Tensor) -> tuple[Tensor, Tensor]:
    """Expand q's parameters to x's batch shape, so each x gets its own independent samples."""
    batch = torch.broadcast_shapes(x.shape[:-1], q_mean.shape[:-1], q_log_var.shape[:-1])
    shape = (*batch, q_mean.shape[-1])
    return q_mean.expand(shape), q_log_var.expand(shape)


def elbo(model: LinearGaussianModel, x: Tensor, q_mean: Tensor, q_log_var: Tensor) -> Tensor:
    """ELBO(q) = E_q[log p(x|z)] − KL(q || N(0, I)) for a diagonal q, exactly.

    The linear decoder makes the reconstruction term a Gaussian expectation:
    E_q‖x − Wz − b‖² = ‖x − Wμ − b‖² + Σ_j σ_j² ‖W_{:,j}‖². Shapes (..., D), (..., d) -> (...).
    """
    sq_mean = (x - model.decode(q_mean)).square().sum(dim=-1)
    spread = (q_log_var.exp() * model.weight.square().sum(dim=0)).sum(dim=-1)
    const = model.data_dim * (LOG_2PI + math.log(model.noise_var))
    recon = -0.5 * (const + (sq_mean + spread) / model.noise_var)
    return recon - kl_to_standard_normal(q_mean, q_log_var)


def elbo_monte_carlo(
    model: LinearGaussianModel,
    x: Tensor,
    q_mean: Tensor,
    q_log_var: Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Single-sample VAE estimates log p(x|z_s) − KL(q || N(0,I)), z_s = μ + σ ε_s: (S, ...).

    This is the estimator a VAE trains on (reconstruction by one reparameterized sample, KL in
    closed form); its mean over the S samples is unbiased for the ELBO, and the spread of the
    S values gives its standard error.
    """
    q_mean, q_log_var = _broadcast_q(x, q_mean, q_log_var)
    z = sample_diag_gaussian(q_mean, q_log_var, n_samples, generator)  # (S, ..., d)
    return model.log_likelihood(x, z) - kl_to_standard_normal(q_mean, q_log_var)


def importance_weighted_bound(
    model: LinearGaussianModel,
    x: Tensor,
    q_mean: Tensor,
    q_log_var: Tensor,
    k: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One draw of L_K = log (1/K) Σ_k p(x, z_k)/q(z_k), z_k ~ q (Burda et al., 2015): (...).

    E[L_1] is the ELBO, E[L_K] rises with K and tends to log p(x): averaging K weights before the
    log shrinks the Jensen gap. Use log-sum-exp so tiny weights do not underflow.
    """
    if k < 1:
        raise CilabError(f"K must be at least 1, got {k}")
    q_mean, q_log_var = _broadcast_q(x, q_mean, q_log_var)
    z = sample_diag_gaussian(q_mean, q_log_var, k, generator)  # (K, ..., d)
    log_w = model.log_joint(x, z) - diag_gaussian_log_prob(z, q_mean, q_log_var)  # (K, ...)
    return torch.logsumexp(log_w, dim=0) - math.log(k)
