SELECT
  record_id,
  updated_at,
  first_name,
  last_name,
  birth_date,
  "__raw_birth_date",
  gender,
  street,
  city,
  postcode,
  country,
  email_opt_in,
  sms_opt_in,
  email_opens,
  email_clicks,
  user_id,
  anonymous_id,
  email,
  phone,
  loyalty_id,
  crm_id,
  extra_ids,
  _raw_json,
  _attributes,
  _file,
  _row,
  record_id AS _key,
  CASE
    WHEN NOT record_id IS NULL
    THEN NULL
    ELSE NULLIF(
      CONCAT_WS(
        '; ',
        CASE
          WHEN record_id IS NULL AND NULLIF(TRIM("__raw_record_id"), '') IS NULL
          THEN 'missing record_id (column ''id'')'
        END
      ),
      ''
    )
  END AS _reason,
  (
    NOT record_id IS NULL
  ) IS TRUE AS _passes
FROM (
  SELECT
    NULLIF(TRIM(CAST("id" AS TEXT)), '') AS record_id,
    CAST("id" AS TEXT) AS "__raw_record_id",
    COALESCE(
      TRY_CAST(CAST(NULL AS TEXT) AS TIMESTAMP),
      TRY_CAST(TRIM(CAST(NULL AS TEXT)) AS TIMESTAMP)
    ) AS updated_at,
    CAST(NULL AS TEXT) AS "__raw_updated_at",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS first_name,
    CAST(NULL AS TEXT) AS "__raw_first_name",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS last_name,
    CAST(NULL AS TEXT) AS "__raw_last_name",
    COALESCE(
      TRY_CAST(CAST(TRY_STRPTIME(
        CONCAT_WS('-', CAST("y" AS TEXT), CAST("m" AS TEXT), CAST("d" AS TEXT)),
        '%Y-%m-%d'
      ) AS TEXT) AS DATE),
      TRY_CAST(TRIM(
        CAST(TRY_STRPTIME(
          CONCAT_WS('-', CAST("y" AS TEXT), CAST("m" AS TEXT), CAST("d" AS TEXT)),
          '%Y-%m-%d'
        ) AS TEXT)
      ) AS DATE)
    ) AS birth_date,
    CAST(CONCAT_WS('-', CAST("y" AS TEXT), CAST("m" AS TEXT), CAST("d" AS TEXT)) AS TEXT) AS "__raw_birth_date",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS gender,
    CAST(NULL AS TEXT) AS "__raw_gender",
    NULLIF(
      TRIM(
        CAST(CONCAT_WS(' ', CAST("street_number" AS TEXT), CAST("address_1" AS TEXT)) AS TEXT)
      ),
      ''
    ) AS street,
    CAST(CONCAT_WS(' ', CAST("street_number" AS TEXT), CAST("address_1" AS TEXT)) AS TEXT) AS "__raw_street",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS city,
    CAST(NULL AS TEXT) AS "__raw_city",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS postcode,
    CAST(NULL AS TEXT) AS "__raw_postcode",
    NULLIF(TRIM(CAST(NULL AS TEXT)), '') AS country,
    CAST(NULL AS TEXT) AS "__raw_country",
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS TEXT)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS TEXT)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS email_opt_in,
    CAST(NULL AS TEXT) AS "__raw_email_opt_in",
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS TEXT)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS TEXT)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS sms_opt_in,
    CAST(NULL AS TEXT) AS "__raw_sms_opt_in",
    COALESCE(
      TRY_CAST(CAST(NULL AS TEXT) AS BIGINT),
      TRY_CAST(TRIM(CAST(NULL AS TEXT)) AS BIGINT)
    ) AS email_opens,
    CAST(NULL AS TEXT) AS "__raw_email_opens",
    COALESCE(
      TRY_CAST(CAST(NULL AS TEXT) AS BIGINT),
      TRY_CAST(TRIM(CAST(NULL AS TEXT)) AS BIGINT)
    ) AS email_clicks,
    CAST(NULL AS TEXT) AS "__raw_email_clicks",
    CAST(NULL AS TEXT) AS user_id,
    CAST(NULL AS TEXT) AS anonymous_id,
    CAST(NULL AS TEXT) AS email,
    CAST(NULL AS TEXT) AS phone,
    CAST(NULL AS TEXT) AS loyalty_id,
    CAST(NULL AS TEXT) AS crm_id,
    CAST(NULL AS TEXT) AS extra_ids,
    JSON_OBJECT(
      'id', CAST("id" AS TEXT),
      'street_number', CAST("street_number" AS TEXT),
      'address_1', CAST("address_1" AS TEXT),
      'y', CAST("y" AS TEXT),
      'm', CAST("m" AS TEXT),
      'd', CAST("d" AS TEXT)
    ) AS _raw_json,
    CAST(NULL AS TEXT) AS _attributes,
    _file,
    _row
  FROM _stage
) AS typed
