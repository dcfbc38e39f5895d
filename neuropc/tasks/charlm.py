"""Character (or byte) level language modelling on any UTF-8 text file.

The file is cut into three contiguous, disjoint parts (train, validation, test; fractions in
the spec). Training reads ``batch`` parallel streams of the train part, each starting at its
own offset, one window of ``window`` symbols per batch: at every step the network sees one
symbol and is scored on the next. Because consecutive batches continue the same streams
(``carries_state``), the trainer carries the LRU state and tPC-RTRL's eligibility traces
across windows, which is what online learning over a long stream means. Evaluation runs
whole held-out streams of the validation part in one pass, so it streams as well. The test
part is read once, when a run ends (``test_split``), and never during training.

Vocabulary: ``bytes`` reads the UTF-8 file as bytes (256 symbols, whatever the file);
``chars`` uses the distinct characters of the whole file, sorted. The spec's ``input.size``
and ``readout.output`` are *checked* against it (not derived), so a spec says what network
it builds and a mismatch is an error naming the vocabulary size.

With ``data: null`` the corpus is ``argparse.py`` of the running Python's standard library
(found through ``sysconfig``), so the example runs offline on every installation; ``describe``
and summary.json say which file was read.
"""

from __future__ import annotations

import hashlib
import math
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from neuropc.errors import NeuropcError
from neuropc.reference.losses import log_softmax
from neuropc.tasks.base import Metric, SequenceBatch, TaskSpecBase
from neuropc.tasks.registry import register_task

#: the standard-library file read when the spec names no data file
DEFAULT_CORPUS = "argparse.py"
BYTE_VOCAB = 256
LN2 = math.log(2.0)


def default_corpus_path() -> Path:
    """A text file every CPython installation carries: the standard library's argparse.py."""
    return Path(sysconfig.get_paths()["stdlib"]) / DEFAULT_CORPUS


class SplitFractions(BaseModel):
    """Fractions of the file (in symbols) for the contiguous train, validation and test parts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    valid: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    test: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1

    @model_validator(mode="after")
    def _at_most_the_file(self) -> SplitFractions:
        total = self.train + self.valid + self.test
        if total > 1.0 + 1e-9:
            raise ValueError(f"train + valid + test must be at most 1, got {total:g}")
        return self


@dataclass(frozen=True)
class Corpus:
    """A text file as symbol ids, with what a run records about it."""

    path: Path
    size: int  # bytes on disk
    sha256: str
    symbols: np.ndarray  # (n,) int64 ids
    alphabet: tuple[str, ...] | None  # chars vocabulary (sorted); None for bytes

    @property
    def vocab_size(self) -> int:
        return BYTE_VOCAB if self.alphabet is None else len(self.alphabet)


def _read_text_file(path: Path) -> bytes:
    """The file's bytes, or one NeuropcError that names the file and says what is wrong."""
    if not path.exists():
        raise NeuropcError(f"charlm data file {path} does not exist (task.data)")
    if path.is_dir():
        raise NeuropcError(f"charlm data file {path} is a directory; task.data must name a UTF-8 text file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise NeuropcError(f"charlm data file {path} cannot be read: {err.strerror}") from None
    if not raw:
        raise NeuropcError(f"charlm data file {path} is empty; it needs text to learn from")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NeuropcError(f"charlm data file {path} is not UTF-8 text: byte 0x{raw[err.start]:02x} at "
                           f"offset {err.start} does not decode") from None
    return raw


@lru_cache(maxsize=8)
def _load(path: str, vocab: str, mtime_ns: int, size: int) -> Corpus:
    """Read and encode once per (file, version): tasks are rebuilt from their spec often."""
    raw = _read_text_file(Path(path))
    digest = hashlib.sha256(raw).hexdigest()
    if vocab == "bytes":
        return Corpus(Path(path), len(raw), digest, np.frombuffer(raw, np.uint8).astype(np.int64), None)
    text = raw.decode("utf-8")
    alphabet = tuple(sorted(set(text)))
    index = {ch: i for i, ch in enumerate(alphabet)}
    ids = np.fromiter((index[ch] for ch in text), np.int64, count=len(text))
    return Corpus(Path(path), len(raw), digest, ids, alphabet)


def load_corpus(data: str | None, vocab: Literal["bytes", "chars"]) -> Corpus:
    """The corpus a spec names (``None``: the standard library's argparse.py)."""
    path = default_corpus_path() if data is None else Path(data).expanduser()
    try:
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (0, 0)  # _read_text_file reports what is wrong
    return _load(str(path), vocab, *key)


class CharLMSpec(TaskSpecBase):
    """Predict the next character or byte of a text file (see the module docstring)."""

    name: Literal["charlm"] = "charlm"
    data: str | None = Field(None, description="UTF-8 text file (relative to the working directory); "
                                               "null: the standard library's argparse.py")
    vocab: Literal["bytes", "chars"] = "bytes"
    window: Annotated[int, Field(gt=0, le=100_000)] = 64
    splits: SplitFractions = Field(default_factory=SplitFractions)
    eval_windows: Annotated[int, Field(gt=0, le=100_000)] = 8

    @model_validator(mode="after")
    def _file_fits(self) -> CharLMSpec:
        """Read the file now, so ``neuropc check`` reports a bad file or a too-short split."""
        corpus = load_corpus(self.data, self.vocab)
        bounds = split_bounds(len(corpus.symbols), self.splits)
        train = bounds["train"][1] - bounds["train"][0]
        if train < self.window + 1:
            raise NeuropcError(f"charlm data file {corpus.path}: the train split has {train} symbols, "
                               f"fewer than one window of {self.window} plus the next symbol; use a "
                               f"longer file, a larger splits.train or a smaller window")
        return self

    @property
    def input_size(self) -> int:
        return load_corpus(self.data, self.vocab).vocab_size

    @property
    def output_size(self) -> int:
        return self.input_size

    def resized(self, steps: int) -> CharLMSpec:
        """Windows of ``steps`` symbols."""
        return self.model_validate({**self.model_dump(), "window": steps})


def split_bounds(length: int, splits: SplitFractions) -> dict[str, tuple[int, int]]:
    """[start, stop) of each contiguous part: train first, then validation, then test."""
    train_end = int(length * splits.train)
    valid_end = train_end + int(length * splits.valid)
    test_end = min(length, valid_end + int(length * splits.test))
    return {"train": (0, train_end), "valid": (train_end, valid_end), "test": (valid_end, test_end)}


class CharLMTask:
    """Windows of parallel text streams and their bits per character."""

    carries_state = True

    def __init__(self, spec: CharLMSpec) -> None:
        self.spec = spec
        self.corpus = load_corpus(spec.data, spec.vocab)
        self.bounds = split_bounds(len(self.corpus.symbols), spec.splits)
        vocab = self.corpus.vocab_size
        self.metrics = (
            Metric("bits_per_char", "bits per character", unit="bits/char", headline=True,
                   higher_is_better=False, chance=math.log2(vocab)),
            Metric("perplexity", "perplexity", unit="symbols", higher_is_better=False, chance=float(vocab)),
        )
        self._offsets: np.ndarray | None = None  # where each training stream started
        self._windows = 0  # windows handed out since then

    @property
    def sequence_length(self) -> int:
        return self.spec.window

    def part(self, name: Literal["train", "valid", "test"]) -> np.ndarray:
        """The symbol ids of one split."""
        start, stop = self.bounds[name]
        return self.corpus.symbols[start:stop]

    def _batch(self, ids: np.ndarray) -> SequenceBatch:
        """(B, T + 1) symbol ids -> inputs are the first T, targets the next symbol of each."""
        inputs = np.eye(self.corpus.vocab_size)[ids[:, :-1].T]
        targets = np.ascontiguousarray(ids[:, 1:].T)
        return SequenceBatch(inputs=inputs, targets=targets, mask=np.ones(targets.shape))

    def sample(self, rng: np.random.Generator, size: int) -> SequenceBatch:
        """The next window of ``size`` streams through the train split.

        The first call (or a call with another ``size``) starts the streams: evenly spaced
        over the split, shifted together by a random phase drawn from ``rng``. Each later call
        continues every stream by one window; a stream that reaches the end of the split wraps
        to its start (one target in the whole pass crosses that seam).
        """
        train = self.part("train")
        length, window = len(train), self.spec.window
        if self._offsets is None or len(self._offsets) != size:
            phase = int(rng.integers(length))
            self._offsets = (phase + np.arange(size) * (length // size)) % length
            self._windows = 0
        start = self._offsets + self._windows * window
        self._windows += 1
        ids = train[(start[:, None] + np.arange(window + 1)[None, :]) % length]
        return self._batch(ids)

    def stream_batch(self, name: Literal["train", "valid", "test"], size: int) -> SequenceBatch:
        """``size`` disjoint streams of one split, each up to ``eval_windows`` windows long,
        starting at evenly spaced offsets: a trainer runs each through in one pass."""
        ids = self.part(name)
        window = self.spec.window
        windows = min(self.spec.eval_windows, (len(ids) // size - 1) // window)
        if windows < 1:
            raise NeuropcError(
                f"charlm data file {self.corpus.path}: the {name} split has {len(ids)} symbols, too few "
                f"for {size} streams of one {window}-symbol window each; lower run.eval_sequences, "
                f"raise splits.{name} or use a longer file")
        steps = windows * window
        starts = np.arange(size) * (len(ids) // size)
        return self._batch(ids[starts[:, None] + np.arange(steps + 1)[None, :]])

    def held_out(self, seed: int, size: int) -> SequenceBatch:
        """Streams of the validation split (the same for every seed: the split is the file's)."""
        return self.stream_batch("valid", size)

    def test_split(self, size: int) -> SequenceBatch | None:
        """Streams of the test split, read once when a run ends (``neuropc.training.train``);
        None when the spec keeps no test part (``splits.test: 0``)."""
        return self.stream_batch("test", size) if len(self.part("test")) else None

    def score(self, outputs: np.ndarray, batch: SequenceBatch) -> dict[str, float]:
        """Summed negative log-likelihood of the next symbol, in nats."""
        picked = np.take_along_axis(log_softmax(outputs), batch.targets[..., None], axis=-1)[..., 0]
        return {"nats": float(-(picked * batch.mask).sum())}

    def finish(self, sums: Mapping[str, float], loss_steps: float) -> dict[str, float]:
        nats = sums["nats"] / loss_steps
        return {"bits_per_char": nats / LN2, "perplexity": math.exp(nats)}

    def describe(self) -> str:
        corpus, spec = self.corpus, self.spec
        vocab = "bytes (256)" if corpus.alphabet is None else f"chars ({corpus.vocab_size} distinct)"
        sizes = ", ".join(f"{name} {stop - start}" for name, (start, stop) in self.bounds.items())
        return (f"charlm on {corpus.path} ({corpus.size:,} bytes), vocabulary {vocab}, windows of "
                f"{spec.window} symbols carried across batches; splits {sizes} symbols")

    def provenance(self) -> dict[str, Any]:
        corpus = self.corpus
        return {"corpus": str(corpus.path.resolve()), "bytes": corpus.size, "sha256": corpus.sha256,
                "vocab": self.spec.vocab, "vocab_size": corpus.vocab_size,
                "splits": {name: [start, stop] for name, (start, stop) in self.bounds.items()}}


register_task(CharLMSpec, CharLMTask)
