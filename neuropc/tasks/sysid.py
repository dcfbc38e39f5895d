"""System identification of a driven, damped pendulum, and filtering with PC inference.

The system (length 1 m, g = 9.81 m/s^2): theta'' = -g sin(theta) - damping * theta' + u(t),
integrated with RK4 (four substeps per step of ``dt`` seconds). The motor command u(t) is a
smooth random torque, a sum of three sinusoids with random frequencies and phases scaled by
``control``; the initial angle is uniform on [-pi/2, pi/2] and the initial rate normal(0, 1).
The observation is the position of the bob, (sin theta, -cos theta) in metres, plus Gaussian
noise of standard deviation ``noise``. Everything is drawn from one random generator, so a
seed gives the same trajectories on every machine.

Training (open loop, teacher forced): at step t the network reads [u_t, y_t] (command and
current noisy observation, real-valued) and is trained with squared error to predict y_{t+1}.
The held-out metric is the root-mean-square error of that one-step prediction.

Deployment (``roll_out``): after ``filter.context`` steps of real observations the network
runs on its own predictions. Three ways, each a metric: open loop, nothing corrects it;
observed, an observation arrives every ``filter.every`` steps and is the next step's input;
filtered, the same, and PC inference also moves the latent state to explain the observation,
as in training. "Observed" is the control that says what the inference adds beyond reading
the observations. The error of the predicted final position against the true (noise-free)
one, averaged over held-out trajectories, is reported for each. The step itself (how a
prediction is made, how inference corrects the state) belongs to whoever executes the network:
``neuropc.reference.filtering`` (numpy) and ``hwsim.filtering`` (a compiled program).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from neuropc.elementary import cos, sin
from neuropc.tasks.base import EVAL_STREAM, Metric, SequenceBatch, TaskSpecBase
from neuropc.tasks.registry import register_task

GRAVITY = 9.81
SUBSTEPS = 4
OBSERVATION = 2  # (x, y) of the bob
COMMAND = 1  # torque
#: the ways a held-out trajectory is rolled out at deployment (``roll_out``), each a metric
#: ``final_error_<way>``
DEPLOYMENTS = ("open_loop", "observed", "filtered")


class FilterSpec(BaseModel):
    """How observations correct the latent state at deployment (PC inference, standard PC:
    predictions recomputed each iteration, unit precision on the state and the observation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Annotated[int, Field(gt=0, le=100_000)] = 5
    context: Annotated[int, Field(ge=1, le=100_000)] = 10
    iterations: Annotated[int, Field(gt=0, le=10_000)] = 20
    step: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2


class SysIdSpec(TaskSpecBase):
    """Predict the next observation of a driven pendulum (see the module docstring)."""

    input_encoding: ClassVar[Literal["onehot", "real"]] = "real"
    loss: ClassVar[Literal["cross_entropy", "squared_error"]] = "squared_error"

    name: Literal["sysid"] = "sysid"
    system: Literal["pendulum"] = "pendulum"
    steps: Annotated[int, Field(ge=3, le=100_000)] = 60
    dt: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    noise: Annotated[float, Field(ge=0.0, le=10.0)] = 0.02
    control: Annotated[float, Field(ge=0.0, le=100.0)] = 2.0
    damping: Annotated[float, Field(ge=0.0, le=100.0)] = 0.1
    filter: FilterSpec = Field(default_factory=FilterSpec)

    @model_validator(mode="after")
    def _context_fits(self) -> SysIdSpec:
        if self.filter.context >= self.steps - 1:
            raise ValueError(f"filter.context ({self.filter.context}) must leave at least two steps of "
                             f"the {self.steps}-step trajectory to roll out")
        return self

    @property
    def input_size(self) -> int:
        return COMMAND + OBSERVATION

    @property
    def output_size(self) -> int:
        return OBSERVATION

    def resized(self, steps: int) -> SysIdSpec:
        """Trajectories of ``steps`` steps (the filter's context shortened if it must be)."""
        if steps < 3:
            raise ValueError(f"a sysid trajectory needs at least 3 steps, got {steps}")
        context = min(self.filter.context, steps - 2)
        return self.model_validate({**self.model_dump(), "steps": steps,
                                    "filter": {**self.filter.model_dump(), "context": context}})


@dataclass(frozen=True)
class Trajectories:
    """Simulated runs, time-major: ``steps + 1`` samples of each signal."""

    angles: np.ndarray  # (T + 1, B, 2): theta, theta'
    commands: np.ndarray  # (T, B): the torque applied during step t
    positions: np.ndarray  # (T + 1, B, 2): bob position, noise-free
    observations: np.ndarray  # (T + 1, B, 2): positions plus noise


def _derivative(state: np.ndarray, torque: np.ndarray, damping: float) -> np.ndarray:
    theta, rate = state[..., 0], state[..., 1]
    return np.stack([rate, -GRAVITY * sin(theta) - damping * rate + torque], axis=-1)


def pendulum(rng: np.random.Generator, size: int, steps: int, dt: float, noise: float,
             control: float, damping: float) -> Trajectories:
    """``size`` trajectories of ``steps`` steps, all randomness drawn from ``rng`` in a fixed order."""
    state = np.stack([rng.uniform(-math.pi / 2, math.pi / 2, size), rng.normal(0.0, 1.0, size)], axis=-1)
    freqs = rng.uniform(0.2, 1.5, (3, size))  # Hz
    phases = rng.uniform(0.0, 2 * math.pi, (3, size))
    times = np.arange(steps) * dt
    commands = control * sin(2 * math.pi * freqs[None] * times[:, None, None] + phases[None]).mean(axis=1)
    angles = np.zeros((steps + 1, size, 2))
    angles[0] = state
    h = dt / SUBSTEPS
    for t in range(steps):
        torque = commands[t]
        for _ in range(SUBSTEPS):
            k1 = _derivative(state, torque, damping)
            k2 = _derivative(state + 0.5 * h * k1, torque, damping)
            k3 = _derivative(state + 0.5 * h * k2, torque, damping)
            k4 = _derivative(state + h * k3, torque, damping)
            state = state + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        angles[t + 1] = state
    positions = np.stack([sin(angles[..., 0]), -cos(angles[..., 0])], axis=-1)
    observations = positions + rng.normal(0.0, noise, positions.shape) if noise > 0 else positions.copy()
    return Trajectories(angles, commands, positions, observations)


class DeploymentStep(Protocol):
    """One step of every rollout, continuing from the state the previous call left."""

    def __call__(self, inputs: np.ndarray, observation: np.ndarray | None) -> np.ndarray:
        """Read ``inputs`` (B, M) and return the prediction of the next observation (B, V) made
        from them; with an ``observation`` (B, V) of that next step, then move the latent state
        to explain it (PC inference) before the next call."""
        ...


def arrives(spec: FilterSpec, steps: int, t: int) -> bool:
    """Whether the observation y_{t+1} arrives after step t: every ``spec.every`` rolled-out
    steps, never after the final one (the final prediction is made before its observation)."""
    return spec.context <= t < steps - 1 and (t + 1 - spec.context) % spec.every == 0


def roll_out(runs: Trajectories, spec: FilterSpec, deployment: str, step: DeploymentStep) -> np.ndarray:
    """The predicted final position (B, 2) of a rollout of ``runs`` the way ``deployment`` says
    (one of DEPLOYMENTS; see the module docstring). Steps t < ``spec.context`` read the real
    observation y_t; later steps read the network's own prediction of y_t, or y_t itself when
    it arrived (observed, filtered)."""
    if deployment not in DEPLOYMENTS:
        raise ValueError(f"unknown deployment {deployment!r}; choose one of {', '.join(DEPLOYMENTS)}")
    steps = runs.commands.shape[0]
    seen = runs.observations[0]
    predicted = seen
    for t in range(steps):
        inputs = np.concatenate([runs.commands[t][:, None], seen], axis=-1)
        arrived = deployment != "open_loop" and arrives(spec, steps, t)
        predicted = step(inputs, runs.observations[t + 1] if arrived and deployment == "filtered" else None)
        seen = runs.observations[t + 1] if t + 1 < spec.context or arrived else predicted
    return predicted


class SysIdTask:
    """Trajectories of the pendulum as training sequences; one-step prediction error."""

    carries_state = False  # every trajectory starts from the zero state

    def __init__(self, spec: SysIdSpec) -> None:
        self.spec = spec
        self.metrics = (
            Metric("prediction_rmse", "one-step prediction RMS error", unit="m", headline=True,
                   higher_is_better=False),
            *(Metric(f"final_error_{way}", f"final position error, {way.replace('_', ' ')}", unit="m",
                     higher_is_better=False) for way in DEPLOYMENTS),
        )

    @property
    def sequence_length(self) -> int:
        return self.spec.steps

    def trajectories(self, rng: np.random.Generator, size: int) -> Trajectories:
        spec = self.spec
        return pendulum(rng, size, spec.steps, spec.dt, spec.noise, spec.control, spec.damping)

    def held_out_trajectories(self, seed: int, size: int) -> Trajectories:
        """The trajectories behind ``held_out`` (the filtering evaluation rolls them out)."""
        return self.trajectories(np.random.default_rng([seed, EVAL_STREAM]), size)

    def deployment_errors(self, seed: int, size: int,
                          stepper: Callable[[], DeploymentStep]) -> dict[str, float]:
        """Mean distance between the predicted and the true (noise-free) final position over
        ``size`` held-out trajectories of run seed ``seed``, for every way of DEPLOYMENTS;
        ``stepper()`` gives a step function starting from the zero state."""
        runs = self.held_out_trajectories(seed, size)
        truth = runs.positions[-1]
        return {f"final_error_{way}": float(np.linalg.norm(
                    roll_out(runs, self.spec.filter, way, stepper()) - truth, axis=-1).mean())
                for way in DEPLOYMENTS}

    @staticmethod
    def batch_of(runs: Trajectories) -> SequenceBatch:
        """Inputs [u_t, y_t], targets y_{t+1}, every step scored."""
        inputs = np.concatenate([runs.commands[..., None], runs.observations[:-1]], axis=-1)
        targets = runs.observations[1:]
        return SequenceBatch(inputs=inputs, targets=targets, mask=np.ones(targets.shape[:2]))

    def sample(self, rng: np.random.Generator, size: int) -> SequenceBatch:
        return self.batch_of(self.trajectories(rng, size))

    def held_out(self, seed: int, size: int) -> SequenceBatch:
        """Fresh trajectories from their own random stream (EVAL_STREAM), never trained on."""
        return self.batch_of(self.held_out_trajectories(seed, size))

    def score(self, outputs: np.ndarray, batch: SequenceBatch) -> dict[str, float]:
        """Summed squared distance between predicted and observed next positions."""
        return {"squared": float((((outputs - batch.targets) ** 2).sum(axis=-1) * batch.mask).sum())}

    def finish(self, sums: Mapping[str, float], loss_steps: float) -> dict[str, float]:
        """RMS distance; the deployment metrics come from ``deployment_errors``."""
        return {"prediction_rmse": math.sqrt(sums["squared"] / loss_steps)}

    def describe(self) -> str:
        spec = self.spec
        return (f"sysid: driven pendulum, {spec.steps} steps of {spec.dt:g} s, observation noise "
                f"{spec.noise:g} m, torque amplitude {spec.control:g}; filtering every "
                f"{spec.filter.every} steps after {spec.filter.context} steps of context")

    def provenance(self) -> dict[str, Any]:
        return {"data": "simulated driven pendulum from the run seed (no file)",
                "system": self.spec.system}


register_task(SysIdSpec, SysIdTask)
