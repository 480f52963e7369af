#!/usr/bin/env bash
# Issue 8's figures: models for real images, run on lines that matplotlib's Agg renderer drew.
#   bash experiments/real_images.sh [FONTS]     (make real-images; FONTS: five | with_others | with_system_others)
# 1. two folders of Agg lines: `select` (the five fonts + 5 held-out families, for the unknown threshold) and
#    `report` (the five fonts + 8 other held-out families, for the figures); the families of the two never
#    overlap, nor with any font of dataset.other_fonts;
# 2. experiment=lines_cnn_rnn with fonts=FONTS (default with_system_others: needs Debian's fonts-liberation,
#    fonts-freefont-ttf, fonts-crosextra-carlito; the held-out families need fonts-urw-base35, fonts-noto-core,
#    fonts-crosextra-caladea, fonts-ebgaramond, fonts-comic-neue);
# 3. calibrate on `select` (a copy of the best checkpoint), evaluate on `report`, the series' test split
#    through predict's preparation, and predict's latency.
set -euo pipefail
PY=${PY:-.venv/bin/python}
FONTS=${1:-with_system_others}
FIVE='DejaVuSans,DejaVuSerif,DejaVuSansMono,STIXGeneral,cmr10'
OUT=outputs/real_images/$FONTS  # calibrated checkpoint, evaluation (the run itself: outputs/lines/<name>-<hash>)
mkdir -p $OUT
[ -f data/agg/select/manifest.csv ] || $PY -m fwtk_lab.agg_lines out=data/agg/select \
  "faces=[$FIVE,'URW Bookman',Z003,'Nimbus Roman','Nimbus Mono PS',Caladea]" per_font=300 seed=11
[ -f data/agg/report/manifest.csv ] || $PY -m fwtk_lab.agg_lines out=data/agg/report \
  "faces=[$FIVE,C059,P052,'EB Garamond','Comic Neue','Noto Sans','Noto Serif','URW Gothic','Nimbus Sans']" per_font=200 seed=21
# the run's own directory (rerunning finds it, resumes it or reports it); its last log line names metrics.json
METRICS=$($PY -m fwtk_lab.train experiment=lines_cnn_rnn fonts=$FONTS trainer.enable_progress_bar=false 2>&1 \
  | tee /dev/stderr | grep -o '[^ ]*/metrics.json' | tail -1)
BEST=$($PY -c "import json; print(json.load(open('$METRICS'))['test_checkpoint'])")
cp "$BEST" $OUT/calibrated.ckpt
$PY -m fwtk_lab.calibrate ckpt_path=$OUT/calibrated.ckpt images=data/agg/select threads=1
$PY -m fwtk_lab.evaluate ckpt_path=$OUT/calibrated.ckpt images=data/agg/report hydra.run.dir=$OUT/report threads=1
OMP_NUM_THREADS=1 $PY experiments/predict_latency.py $OUT/calibrated.ckpt data/agg/report --n 400
$PY experiments/series_split_via_predict.py $OUT/calibrated.ckpt --n 3000
