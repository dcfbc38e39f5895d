"""Errors of one time step's layers: by predictive-coding inference, or by exact backprop.

Both return the same ``StepErrors`` so the learning rules do not care which produced them.
Sign convention (docs/algorithm.md, 'Errors and signs'): at equilibrium ``eps[l] = -dL_t/dx^l``, so an
update ``eps * activity`` is a descent direction, never a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuropc.reference import activations, losses
from neuropc.reference.network import (
    Architecture,
    Params,
    features_adjoint,
    layer_activity,
    readout_forward,
)


@dataclass
class StepErrors:
    """One step's error nodes and what the weight updates need."""

    eps: list[np.ndarray]  # eps[0] state (batch, N), eps[1..L-1] hidden, eps[L] output
    activity: list[np.ndarray]  # f_l(x^l), presynaptic activity of readout layer l
    state: np.ndarray  # x^0 after inference (equals mu^0 when there is no inference)
    output: np.ndarray  # feed-forward output prediction mu^L
    loss: np.ndarray  # masked per-sequence loss at the feed-forward prediction
    values: list[np.ndarray] | None = None  # x^l after PC inference (None: errors by backprop)
    fixed_prediction: bool = True  # where inference took f'(.): feed-forward (True) or current values


def _output_error(arch: Architecture, output: np.ndarray, target: np.ndarray,
                  mask: np.ndarray, precision: float = 1.0) -> np.ndarray:
    return -losses.gradient(arch.loss, output, target) * (mask[:, None] * precision)


def _slope(arch: Architecture, layer: int, point: np.ndarray) -> np.ndarray | None:
    """f_l'(point); None for the LRU features, whose map is linear."""
    return None if layer == 0 else activations.derivative(arch.activation, point)


def _send_down(arch: Architecture, params: Params, layer: int, error_above: np.ndarray,
               slope: np.ndarray | None, counter: Any = None) -> np.ndarray:
    """f_l'(x^l) * W_l^T eps^{l+1}: the error a value node receives through feedback synapses."""
    back = error_above @ params[f"W{layer}"]
    if counter is not None:
        counter.read_weight(f"W{layer}", params[f"W{layer}"])
        counter.matmul("backward", error_above, params[f"W{layer}"])
        if slope is not None:
            counter.elementwise(slope)  # f'(x): the derivative itself
            counter.elementwise(back)  # times the error sent down
    return features_adjoint(arch, back) if slope is None else slope * back


def backprop_errors(arch: Architecture, params: Params, mu0: np.ndarray, target: np.ndarray,
                    mask: np.ndarray,
                    readout: tuple[list[np.ndarray], np.ndarray] | None = None,
                    counter: Any = None) -> StepErrors:
    """Exact per-step errors (spatial backprop through the readout).

    ``readout`` passes a forward pass already made (BPTT keeps it in its history).
    ``counter`` (optional) is told about every operation after the readout's forward pass
    (BPTT counts that in ``forward_sequence``); it never changes the results.
    """
    hidden_pre, output = readout if readout is not None else readout_forward(arch, params, mu0)
    points = [mu0, *hidden_pre]
    top = arch.value_layers
    eps: list[np.ndarray] = [np.empty(0)] * (top + 1)
    eps[top] = _output_error(arch, output, target, mask)
    for layer in range(top - 1, -1, -1):
        eps[layer] = _send_down(arch, params, layer, eps[layer + 1],
                                _slope(arch, layer, points[layer]), counter)
    activity = [layer_activity(arch, layer, points[layer]) for layer in range(top)]
    loss = losses.value(arch.loss, output, target) * mask
    if counter is not None:
        counter.elementwise(eps[top])  # output error: loss gradient times mask
        for value in activity[1:]:
            counter.elementwise(value)  # f(x) recomputed for the weight updates
        counter.elementwise(output)  # masked loss over the output
    return StepErrors(eps=eps, activity=activity, state=mu0, output=output, loss=loss)


def errors_at_rest(arch: Architecture, params: Params, mu0: np.ndarray) -> StepErrors:
    """A step that carries no loss: the output error is 0, so every value node stays at its
    prediction and every error is 0 (an exact fixed point of inference and of backprop)."""
    hidden_pre, output = readout_forward(arch, params, mu0)
    predictions = [mu0, *hidden_pre]
    eps = [np.zeros_like(p) for p in predictions] + [np.zeros_like(output)]
    return StepErrors(
        eps=eps,
        activity=[layer_activity(arch, layer, predictions[layer]) for layer in range(arch.value_layers)],
        state=mu0,
        output=output,
        loss=np.zeros(mu0.shape[0]),
    )


def pc_inference(arch: Architecture, params: Params, mu0: np.ndarray, target: np.ndarray,
                 mask: np.ndarray, iterations: int, step: float,
                 fixed_prediction: bool, precision: float = 1.0) -> StepErrors:
    """K iterations of gradient descent on the step's energy F_t (docs/algorithm.md, 'PC inference').

    ``precision`` weighs the output error (the energy's loss term is precision * L_t), so
    every returned error is ``precision`` times what it is at precision 1 under a fixed
    prediction; callers that want updates on the scale of -dL/dp divide by it.

    Value nodes start at their feed-forward predictions, so only the output error is non-zero
    at first. Updates are synchronous (every node reads the errors of the previous
    iteration), as on hardware where all cores run an iteration in parallel.
    """
    hidden_pre, output = readout_forward(arch, params, mu0)
    top = arch.value_layers
    predictions = [mu0, *hidden_pre]
    values = [p.copy() for p in predictions]
    output_error = _output_error(arch, output, target, mask, precision)

    def errors() -> list[np.ndarray]:
        nonlocal predictions, output_error
        if not fixed_prediction:
            pre, out = _predictions_from_values(arch, params, values)
            predictions = [mu0, *pre]
            output_error = _output_error(arch, out, target, mask, precision)
        return [values[layer] - predictions[layer] for layer in range(top)] + [output_error]

    fixed_slopes = [_slope(arch, layer, predictions[layer]) for layer in range(top)]
    for _ in range(iterations):
        eps = errors()
        for layer in range(top):
            slope = fixed_slopes[layer] if fixed_prediction else _slope(arch, layer, values[layer])
            drive = eps[layer] - _send_down(arch, params, layer, eps[layer + 1], slope)
            values[layer] = values[layer] - step * drive
    eps = errors()
    active = predictions if fixed_prediction else values
    return StepErrors(
        eps=eps,
        activity=[layer_activity(arch, layer, active[layer]) for layer in range(top)],
        state=values[0],
        output=output,
        loss=losses.value(arch.loss, output, target) * mask,
        values=values,
        fixed_prediction=fixed_prediction,
    )


def inference_residual(arch: Architecture, params: Params, errors: StepErrors) -> np.ndarray:
    """Per sequence, the norm of dF_t/dx over every value node when inference stopped.

    Zero means inference converged (every eps^l equals the error its layer receives from
    above); after finite K iterations of standard PC it measures how far from its equilibrium
    the step was left, which is one of the costs of the approximate mode. (batch,)"""
    if errors.values is None:
        return np.zeros(errors.state.shape[0])
    squared = np.zeros(errors.state.shape[0])
    for layer in range(arch.value_layers):
        value = errors.values[layer]
        point = value - errors.eps[layer] if errors.fixed_prediction else value
        drive = errors.eps[layer] - _send_down(arch, params, layer, errors.eps[layer + 1],
                                               _slope(arch, layer, point))
        squared += (np.abs(drive) ** 2).sum(axis=-1)
    return np.sqrt(squared)


def _predictions_from_values(arch: Architecture, params: Params,
                             values: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """mu^{l+1} = W_l f_l(x^l) + b_l for the current values (no fixed-prediction assumption)."""
    predictions = []
    for layer in range(arch.readout_layers):
        act = layer_activity(arch, layer, values[layer])
        predictions.append(act @ params[f"W{layer}"].T + params[f"b{layer}"])
    return predictions[:-1], predictions[-1]


def readout_updates(arch: Architecture, errors: StepErrors, counter: Any = None) -> dict[str, np.ndarray]:
    """dW_l = eps^{l+1} f_l(x^l)^T, db_l = eps^{l+1}, summed over the batch."""
    updates = {}
    for layer in range(arch.readout_layers):
        updates[f"W{layer}"] = errors.eps[layer + 1].T @ errors.activity[layer]
        updates[f"b{layer}"] = errors.eps[layer + 1].sum(axis=0)
        if counter is not None:
            counter.matmul("weight_gradient", errors.eps[layer + 1].T, errors.activity[layer])
            counter.reduce("weight_gradient", errors.eps[layer + 1])
    return updates
