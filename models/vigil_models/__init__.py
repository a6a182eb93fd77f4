"""Vigil's models: encoders into one shared space, speech detection and transcription.

Nothing here knows about transport or storage.
"""

from vigil_models.catalog import (
    DEFAULT_SPACE,
    DEFAULT_SPEECH_MODEL,
    SPACES,
    SPEECH_MODELS,
    ModelUnavailableError,
    SpaceSpec,
    SpeechModelSpec,
)
from vigil_models.device import pick_device
from vigil_models.image import Concept, LabelSpaceImageEncoder, LabelSpaceOptions
from vigil_models.registry import (
    AudioEmbedder,
    FrameLabeler,
    ImageEmbedder,
    ModelSet,
    SoundTaggerModel,
    SpeechDetectorModel,
    TextEmbedder,
    TranscriberModel,
    load_models,
)
from vigil_models.sound import EVENT_CLASSES, SoundOptions, SoundTagger, SoundWindow
from vigil_models.speech import SAMPLE_RATE, SpeechDetector, SpeechRegion, Transcriber, TranscriptPiece, WordTiming
from vigil_models.text import SentenceEncoder
from vigil_models.vad import VadState

__all__ = [
    "DEFAULT_SPACE",
    "DEFAULT_SPEECH_MODEL",
    "EVENT_CLASSES",
    "SAMPLE_RATE",
    "SPACES",
    "SPEECH_MODELS",
    "AudioEmbedder",
    "Concept",
    "FrameLabeler",
    "ImageEmbedder",
    "LabelSpaceImageEncoder",
    "LabelSpaceOptions",
    "ModelSet",
    "ModelUnavailableError",
    "SentenceEncoder",
    "SoundOptions",
    "SoundTagger",
    "SoundTaggerModel",
    "SoundWindow",
    "SpaceSpec",
    "SpeechDetector",
    "SpeechDetectorModel",
    "SpeechModelSpec",
    "SpeechRegion",
    "TextEmbedder",
    "Transcriber",
    "TranscriberModel",
    "TranscriptPiece",
    "VadState",
    "WordTiming",
    "load_models",
    "pick_device",
]
