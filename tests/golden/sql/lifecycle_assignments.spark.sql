SELECT
  uid,
  'lifecycle' AS segmentation,
  CASE
    WHEN NOT known_customer
    THEN 'anonymous'
    WHEN orders = 0
    THEN 'lead'
    WHEN days_since_last_order > 180
    THEN 'dormant'
    WHEN days_since_last_order > 90
    THEN 'at_risk'
    WHEN orders >= 2 AND last_gap_days > 180
    THEN 'reactivated'
    WHEN revenue_365d >= 500.0
    THEN 'vip'
    WHEN orders >= 3
    THEN 'loyal'
    WHEN orders = 1
    THEN 'new'
    ELSE 'active'
  END AS segment,
  CAST(days_since_last_order AS DOUBLE) AS score
FROM profiles
