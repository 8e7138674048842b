"""Errors raised for bad input. Every one carries a one-line message meant for a person.

Every error is a :class:`SigpropError`, which is a :class:`ValueError`; a wrong *type* of argument
(a string where a number belongs, a bool for σ_w²) raises :class:`InvalidParameterError`, which
is also a :class:`TypeError`, so ``except TypeError`` and ``except ValueError`` both catch it.
"""


class SigpropError(ValueError):
    """Base class of sigprop's input errors."""


class UnknownNonlinearityError(SigpropError):
    """The name is neither in the registry nor a valid custom expression."""


class InvalidParameterError(SigpropError, TypeError):
    """A hyperparameter is outside its domain (σ_w² ≤ 0, σ_b² < 0, ρ ∉ (0, 1], ...) or not a number."""


class LengthMapDivergesError(SigpropError):
    """The length map q ↦ σ_w²/ρ E[φ(√q z)²] + σ_b² has no finite stable fixed point."""


class NoCriticalPointError(SigpropError):
    """There is no σ_w² with χ₁ = 1 and a finite q* at the requested σ_b²."""


class ResourceLimitError(SigpropError):
    """The request would take more memory or time than sigprop allows (the message says which limit)."""
