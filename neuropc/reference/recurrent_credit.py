"""Credit for the LRU parameters: eligibility traces (tPC-RTRL) or the immediate term only.

For a diagonal recurrence the RTRL influence of each parameter on h_t has the parameter's own
shape (docs/algorithm.md, 'The rules at a glance'), so a "sensitivity" below is d h_t / d p for every p:
either the full trace carried across steps, or just this step's direct derivative.
Complex parameters follow Wirtinger calculus: with the state error eps = -(dL/dRe h + i dL/dIm h)
the descent direction for a real parameter p is Re(eps * conj(dh/dp)), and for a complex
weight B = B_re + i B_im it is eps * conj(dh/dB) split into real and imaginary parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropc.reference.network import Architecture, LRUCoefficients

WIDE_INPUT = 32  # inputs above which the trace contraction uses einsum (Sensitivities.weight_credit)


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

    def weight_credit(self, state_error: np.ndarray) -> np.ndarray:
        """sum over the batch of eps_n conj(dh_n / dB_nm), conjugating the small side.

        Few inputs (one-hot digits): one (1 x batch) @ (batch x M) product per unit n, 4x
        faster than the einsum. Many inputs (256 bytes of the charlm task): the batched
        matmul over strided operands is slow (68-440 ms against 5-9 ms for the einsum at
        batch 16, N 64, M 256, measured on a loaded 2-core machine), so the einsum."""
        if self.B.shape[2] > WIDE_INPUT:
            return np.conj(np.einsum("bn,bnm->nm", np.conj(state_error), self.B))
        per_unit = np.matmul(np.conj(state_error).T[:, None, :], self.B.transpose(1, 0, 2))
        return np.conj(per_unit[:, 0, :])


@dataclass
class DirectSensitivities:
    """This step's direct derivatives of mu^0 = lam h_{t-1} + gam B u_t, h_{t-1} held constant.

    d mu_n / d B_nm = gam_n u_m is an outer product per sequence; it is kept as its two factors
    because the one-step rules only ever contract it with the state error, which the factors do
    without building the (batch, N, M) array.
    """

    lam: np.ndarray  # (batch, N): h_{t-1}
    gam: np.ndarray  # (batch, N): B u_t
    gain: np.ndarray  # (N,): gamma
    u: np.ndarray  # (batch, M): the input, real

    @property
    def B(self) -> np.ndarray:
        return self.gain[None, :, None] * self.u[:, None, :]

    def weight_credit(self, state_error: np.ndarray) -> np.ndarray:
        return (state_error * self.gain).T @ self.u

    def add_B_to(self, trace_B: np.ndarray) -> None:
        """trace_B += d mu / d B, touching only the inputs that are nonzero (mostly one-hot)."""
        rows, cols = np.nonzero(self.u)
        trace_B[rows, :, cols] += self.gain * self.u[rows, cols, None]


def immediate(coef: LRUCoefficients, h_prev: np.ndarray, u: np.ndarray,
              drive: np.ndarray) -> DirectSensitivities:
    """The direct derivatives of this step (the whole credit tPC and spatial BP give the LRU)."""
    return DirectSensitivities(lam=h_prev, gam=drive, gain=coef.gam, u=u)


def advance_traces(traces: Sensitivities, coef: LRUCoefficients, step: DirectSensitivities) -> None:
    """e_t = lam * e_{t-1} + (direct term): the whole RTRL recursion for a diagonal LRU."""
    traces.lam = coef.lam * traces.lam + step.lam
    traces.B *= coef.lam[None, :, None]  # in place: the largest array of the reference
    step.add_B_to(traces.B)
    traces.gam = coef.lam * traces.gam + step.gam


def recurrent_updates(arch: Architecture, coef: LRUCoefficients, state_error: np.ndarray,
                      sens: Sensitivities | DirectSensitivities) -> dict[str, np.ndarray]:
    """Descent directions for the LRU parameters, summed over the batch."""
    lam_credit = (state_error * np.conj(sens.lam)).sum(axis=0)
    updates = {name: np.real(lam_credit * np.conj(d)) for name, d in coef.dlam.items()}
    if arch.learn_gamma:
        updates["gamma_log"] = coef.gam * np.real((state_error * np.conj(sens.gam)).sum(axis=0))
    weight_credit = sens.weight_credit(state_error)
    if arch.complex:
        updates["B_re"], updates["B_im"] = weight_credit.real, weight_credit.imag
    else:
        updates["B"] = np.real(weight_credit)
    return updates
