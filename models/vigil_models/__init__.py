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
from vigil_models.explicit import ExplicitScorer
from vigil_models.image import Concept, LabelSpaceImageEncoder, LabelSpaceOptions
from vigil_models.ocr import TextLine, TextReader
from vigil_models.people import Box, PeopleConcepts, PeopleDetector, PeopleFound, PeopleMixing, PeopleOptions
from vigil_models.registry import (
    AudioEmbedder,
    FrameLabeler,
    ImageEmbedder,
    ModelSet,
    SoundTaggerModel,
    SpeechDetectorModel,
    TextEmbedder,
    TextReaderModel,
    TranscriberModel,
    load_models,
)
from vigil_models.sound import SPEECH_CLASSES, SoundOptions, SoundTagger, SoundWindow
from vigil_models.speech import (
    SAMPLE_RATE,
    SpeechDetector,
    SpeechRegion,
    SpeechRequest,
    Transcriber,
    TranscriptPiece,
    WordTiming,
)
from vigil_models.text import SentenceEncoder
from vigil_models.vad import VadState

__all__ = [
    "DEFAULT_SPACE",
    "DEFAULT_SPEECH_MODEL",
    "SAMPLE_RATE",
    "SPACES",
    "SPEECH_CLASSES",
    "SPEECH_MODELS",
    "AudioEmbedder",
    "Box",
    "Concept",
    "ExplicitScorer",
    "FrameLabeler",
    "ImageEmbedder",
    "LabelSpaceImageEncoder",
    "LabelSpaceOptions",
    "ModelSet",
    "ModelUnavailableError",
    "PeopleConcepts",
    "PeopleDetector",
    "PeopleFound",
    "PeopleMixing",
    "PeopleOptions",
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
    "SpeechRequest",
    "TextEmbedder",
    "TextLine",
    "TextReader",
    "TextReaderModel",
    "Transcriber",
    "TranscriberModel",
    "TranscriptPiece",
    "VadState",
    "WordTiming",
    "load_models",
    "pick_device",
]
