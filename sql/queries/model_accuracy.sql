-- model_accuracy: how the learn stage's models scored, day by day.
--
-- Per day of stream time: the forecast's MAE against the best naive baseline per axis and
-- horizon, and the failure-risk models' ROC-AUC, PR-AUC, recall, precision and lead.
--
-- Reads run_metric (the prequential figures the learn stage writes every 100,000 readings:
-- running totals since the run began) and run; for each day the last value written that day.
-- Forecast rows: metric 'mae.hH.axisA' with baseline the lowest of the naive baselines'
-- MAE at that step, and ratio = model / baseline (below 1: better than every naive method).
-- Risk rows: the metric's value; baseline and ratio empty. Robot does not apply (the figures
-- are the fleet's).
-- Columns: consumer, run, day, metric, value, baseline, ratio.
WITH m AS (
    SELECT r.consumer, r.name AS run, rm.key, rm.step, rm.ts, rm.value,
           row_number() OVER (PARTITION BY rm.run_id, rm.key, date_trunc('day', rm.ts)
                              ORDER BY rm.step DESC) AS k
      FROM run_metric rm
      JOIN run r ON r.run_id = rm.run_id
     WHERE (rm.key LIKE 'mae%' OR rm.key IN ('roc_auc', 'pr_auc', 'recall', 'precision', 'lead_h_median'))
       AND ($1::timestamptz IS NULL OR rm.ts >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR rm.ts < $2::timestamptz)
       AND ($3::integer IS NULL OR true)
), last AS (
    SELECT * FROM m WHERE k = 1
), naive AS (
    SELECT consumer, run, ts, regexp_replace(key, '^mae_[a-z_]+[.]', 'mae.') AS key, min(value) AS baseline
      FROM last WHERE key ~ '^mae_(last|prev_run|prev_cycle|mean|median)[.]'
     GROUP BY 1, 2, 3, 4
)
SELECT l.consumer, l.run, l.ts::date AS day, l.key AS metric, round(l.value::numeric, 4) AS value,
       round(n.baseline::numeric, 4) AS baseline, round((l.value / nullif(n.baseline, 0))::numeric, 3) AS ratio
  FROM last l
  LEFT JOIN naive n ON n.consumer = l.consumer AND n.run = l.run AND n.ts = l.ts AND n.key = l.key
 WHERE l.key ~ '^mae[.]h[0-9]+[.]axis[0-9]+$' OR l.key IN ('roc_auc', 'pr_auc', 'recall', 'precision', 'lead_h_median')
 ORDER BY l.consumer, l.run, day, metric
