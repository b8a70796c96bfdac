SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'user_id' AS id_type,
  user_id AS id_value,
  ts AS ts
FROM events
WHERE
  NOT user_id IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'anonymous_id' AS id_type,
  anonymous_id AS id_value,
  ts AS ts
FROM events
WHERE
  NOT anonymous_id IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'email' AS id_type,
  email AS id_value,
  ts AS ts
FROM events
WHERE
  NOT email IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'phone' AS id_type,
  phone AS id_value,
  ts AS ts
FROM events
WHERE
  NOT phone IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'loyalty_id' AS id_type,
  loyalty_id AS id_value,
  ts AS ts
FROM events
WHERE
  NOT loyalty_id IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'crm_id' AS id_type,
  crm_id AS id_value,
  ts AS ts
FROM events
WHERE
  NOT crm_id IS NULL
UNION ALL
SELECT
  source,
  CASE WHEN type = 'order' THEN order_id ELSE event_id END AS record_id,
  'member_no' AS id_type,
  extra_ids ->> '$.member_no' AS id_value,
  ts AS ts
FROM events
WHERE
  NOT (
    extra_ids ->> '$.member_no'
  ) IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'user_id' AS id_type,
  user_id AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT user_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'anonymous_id' AS id_type,
  anonymous_id AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT anonymous_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'email' AS id_type,
  email AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT email IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'phone' AS id_type,
  phone AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT phone IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'loyalty_id' AS id_type,
  loyalty_id AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT loyalty_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'crm_id' AS id_type,
  crm_id AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT crm_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'member_no' AS id_type,
  extra_ids ->> '$.member_no' AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
WHERE
  NOT (
    extra_ids ->> '$.member_no'
  ) IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'user_id' AS id_type,
  user_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT user_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'anonymous_id' AS id_type,
  anonymous_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT anonymous_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'email' AS id_type,
  email AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT email IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'phone' AS id_type,
  phone AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT phone IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'loyalty_id' AS id_type,
  loyalty_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT loyalty_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'crm_id' AS id_type,
  crm_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT crm_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'member_no' AS id_type,
  extra_ids ->> '$.member_no' AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM survey_responses
WHERE
  NOT (
    extra_ids ->> '$.member_no'
  ) IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'user_id' AS id_type,
  user_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT user_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'anonymous_id' AS id_type,
  anonymous_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT anonymous_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'email' AS id_type,
  email AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT email IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'phone' AS id_type,
  phone AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT phone IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'loyalty_id' AS id_type,
  loyalty_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT loyalty_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'crm_id' AS id_type,
  crm_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT crm_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'member_no' AS id_type,
  extra_ids ->> '$.member_no' AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM imported_memberships
WHERE
  NOT (
    extra_ids ->> '$.member_no'
  ) IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'user_id' AS id_type,
  user_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT user_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'anonymous_id' AS id_type,
  anonymous_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT anonymous_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'email' AS id_type,
  email AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT email IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'phone' AS id_type,
  phone AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT phone IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'loyalty_id' AS id_type,
  loyalty_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT loyalty_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'crm_id' AS id_type,
  crm_id AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT crm_id IS NULL
UNION ALL
SELECT
  source,
  record_id AS record_id,
  'member_no' AS id_type,
  extra_ids ->> '$.member_no' AS id_value,
  COALESCE(ts, _loaded_at) AS ts
FROM consent_records
WHERE
  NOT (
    extra_ids ->> '$.member_no'
  ) IS NULL
UNION ALL
SELECT
  source,
  record_id,
  'record' AS id_type,
  source || ':' || record_id AS id_value,
  COALESCE(updated_at, _loaded_at) AS ts
FROM customer_records
