"""Credit for the LRU parameters: eligibility traces (tPC-RTRL) or the immediate term only.

For a diagonal recurrence the RTRL influence of each parameter on h_t has the parameter's own
shape (ALGORITHM.md section 3), so a "sensitivity" below is d h_t / d p for every p:
either the full trace carried across steps, or just this step's direct derivative.
Complex parameters follow Wirtinger calculus: with the state error eps = -(dL/dRe h + i dL/dIm h)
the descent direction for a real parameter p is Re(eps * conj(dh/dp)), and for a complex
weight B = B_re + i B_im it is eps * conj(dh/dB) split into real and imaginary parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropc.reference.network import Architecture, LRUCoefficients


@dataclass
class Sensitivities:
    """d h_t / d(lambda), d h_t / d(B_ij) and d h_t / d(gamma), per sequence in the batch."""

    lam: np.ndarray  # (batch, N)
    B: np.ndarray  # (batch, N, M)
    gam: np.ndarray  # (batch, N)

    @classmethod
    def zeros(cls, arch: Architecture, batch: int) -> Sensitivities:
        n, m = arch.state, arch.inputs
        return cls(np.zeros((batch, n), arch.dtype), np.zeros((batch, n, m), arch.dtype),
                   np.zeros((batch, n), arch.dtype))


def immediate(coef: LRUCoefficients, h_prev: np.ndarray, u: np.ndarray,
              drive: np.ndarray) -> Sensitivities:
    """Direct derivatives of mu^0 = lam h_{t-1} + gam B u_t, with h_{t-1} held constant."""
    return Sensitivities(lam=h_prev, B=coef.gam[None, :, None] * u[:, None, :], gam=drive)


def advance_traces(traces: Sensitivities, coef: LRUCoefficients, step: Sensitivities) -> None:
    """e_t = lam * e_{t-1} + (direct term): the whole RTRL recursion for a diagonal LRU."""
    traces.lam = coef.lam * traces.lam + step.lam
    traces.B = coef.lam[None, :, None] * traces.B + step.B
    traces.gam = coef.lam * traces.gam + step.gam


def recurrent_updates(arch: Architecture, coef: LRUCoefficients, state_error: np.ndarray,
                      sens: Sensitivities) -> dict[str, np.ndarray]:
    """Descent directions for the LRU parameters, summed over the batch."""
    lam_credit = (state_error * np.conj(sens.lam)).sum(axis=0)
    updates = {name: np.real(lam_credit * np.conj(d)) for name, d in coef.dlam.items()}
    if arch.learn_gamma:
        updates["gamma_log"] = coef.gam * np.real((state_error * np.conj(sens.gam)).sum(axis=0))
    weight_credit = np.einsum("bn,bnm->nm", state_error, np.conj(sens.B))
    if arch.complex:
        updates["B_re"], updates["B_im"] = weight_credit.real, weight_credit.imag
    else:
        updates["B"] = np.real(weight_credit)
    return updates
