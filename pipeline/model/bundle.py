"""A model bundle: the ONNX files, `tokenizer.json` and `manifest.json`, validated at load."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import BundleError
from pipeline.model.preprocessing import PREPROCESSING_ID

MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
SENTIMENT_ORDER = ("negative", "neutral", "positive")

Precision = Literal["fp32", "int8", "fp16"]
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class LabelSet(BaseModel):
    """Class names in the order of the model's logits."""

    model_config = _FROZEN

    topics: tuple[str, ...] = Field(..., min_length=2)
    sentiments: tuple[str, str, str]

    @model_validator(mode="after")
    def _sentiment_order(self) -> LabelSet:
        # score = p(positive) - p(negative) relies on this order.
        if self.sentiments != SENTIMENT_ORDER:
            raise ValueError(f"sentiments must be {SENTIMENT_ORDER}, got {self.sentiments}")
        return self


class BaseModelInfo(BaseModel):
    """The encoder the model was fine-tuned from."""

    model_config = _FROZEN

    name: str
    layers: int
    hidden_size: int
    heads: int
    parameters: int


class ServingChoice(BaseModel):
    """Which ONNX file serves each device, and why."""

    model_config = _FROZEN

    cpu: Literal["fp32", "int8"]
    gpu: Literal["fp32", "fp16"]
    reason: str


class BundleManifest(BaseModel):
    """The contents of `manifest.json`."""

    model_config = _FROZEN

    format: Literal[1] = 1
    version: str = Field(..., description="Content hash of the ONNX and tokenizer files")
    created_at: datetime
    base: BaseModelInfo
    max_length: int = Field(..., ge=8, le=512)
    preprocessing: str
    labels: LabelSet
    files: dict[str, str] = Field(..., description="fp32 | int8 | fp16 | tokenizer -> file")
    serving: ServingChoice
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    calibration: dict[Precision, dict[str, float]] = Field(
        default_factory=dict,
        description="precision -> task -> temperature fitted on dev (logits are divided by it)",
    )

    @model_validator(mode="after")
    def _files_cover_serving(self) -> BundleManifest:
        needed = {"fp32", "tokenizer", self.serving.cpu, self.serving.gpu}
        missing = needed - set(self.files)
        if missing:
            raise ValueError(f"files lacks {sorted(missing)}")
        return self


def content_version(directory: Path, files: dict[str, str]) -> str:
    """The bundle version: a SHA-256 over the role, name and bytes of every listed file."""
    digest = hashlib.sha256()
    for role in sorted(files):
        digest.update(f"{role}={files[role]}\n".encode())
        with (directory / files[role]).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ModelBundle:
    """A validated bundle directory."""

    path: Path
    manifest: BundleManifest

    @classmethod
    def load(cls, path: Path | str) -> ModelBundle:
        """Reads and checks a bundle; raises BundleError if it is incomplete or corrupt."""
        path = Path(path)
        manifest = _read_manifest(path)
        if manifest.preprocessing != PREPROCESSING_ID:
            raise BundleError(
                f"bundle {path} was built with preprocessing {manifest.preprocessing!r}; "
                f"this code applies {PREPROCESSING_ID!r}"
            )
        missing = [name for name in manifest.files.values() if not (path / name).is_file()]
        if missing:
            raise BundleError(f"bundle {path} lacks files {missing}")
        actual = content_version(path, manifest.files)
        if actual != manifest.version:
            raise BundleError(
                f"bundle {path} does not match its manifest: version {manifest.version} "
                f"but the files hash to {actual}"
            )
        return cls(path, manifest)

    @property
    def version(self) -> str:
        return self.manifest.version

    def temperature(self, precision: Precision, task: str) -> float:
        """The calibration temperature of a task at a precision (1 when none was fitted)."""
        return self.manifest.calibration.get(precision, {}).get(task, 1.0)

    def file(self, role: str) -> Path:
        """The path of a file by role (fp32, int8, fp16, tokenizer)."""
        if role not in self.manifest.files:
            raise BundleError(f"bundle {self.path} has no {role} model")
        return self.path / self.manifest.files[role]


def write_manifest(directory: Path, manifest: BundleManifest) -> Path:
    """Writes `manifest.json` (the export's last step: a bundle without one is incomplete)."""
    target = directory / MANIFEST_NAME
    target.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return target


def _read_manifest(path: Path) -> BundleManifest:
    target = path / MANIFEST_NAME
    if not target.is_file():
        raise BundleError(f"{path} is not a model bundle: {MANIFEST_NAME} is missing")
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
        return BundleManifest.model_validate(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{target} is not valid JSON: {e}") from e
    except ValidationError as e:
        raise BundleError(f"{target} is not a valid manifest: {e}") from e
