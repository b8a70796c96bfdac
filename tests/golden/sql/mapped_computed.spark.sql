SELECT
  record_id,
  updated_at,
  first_name,
  last_name,
  birth_date,
  `__raw_birth_date`,
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
          WHEN record_id IS NULL AND NULLIF(TRIM(`__raw_record_id`), '') IS NULL
          THEN 'missing record_id (column \'id\')'
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
    NULLIF(TRIM(CAST(`id` AS STRING)), '') AS record_id,
    CAST(`id` AS STRING) AS `__raw_record_id`,
    COALESCE(
      TRY_CAST(CAST(NULL AS STRING) AS TIMESTAMP_NTZ),
      TRY_CAST(TRIM(CAST(NULL AS STRING)) AS TIMESTAMP_NTZ)
    ) AS updated_at,
    CAST(NULL AS STRING) AS `__raw_updated_at`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS first_name,
    CAST(NULL AS STRING) AS `__raw_first_name`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS last_name,
    CAST(NULL AS STRING) AS `__raw_last_name`,
    COALESCE(
      TRY_CAST(CAST(TRY_TO_TIMESTAMP(
        CONCAT_WS('-', CAST(`y` AS STRING), CAST(`m` AS STRING), CAST(`d` AS STRING)),
        'yyyy-MM-dd'
      ) AS STRING) AS DATE),
      TRY_CAST(TRIM(
        CAST(TRY_TO_TIMESTAMP(
          CONCAT_WS('-', CAST(`y` AS STRING), CAST(`m` AS STRING), CAST(`d` AS STRING)),
          'yyyy-MM-dd'
        ) AS STRING)
      ) AS DATE)
    ) AS birth_date,
    CAST(CONCAT_WS('-', CAST(`y` AS STRING), CAST(`m` AS STRING), CAST(`d` AS STRING)) AS STRING) AS `__raw_birth_date`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS gender,
    CAST(NULL AS STRING) AS `__raw_gender`,
    NULLIF(
      TRIM(
        CAST(CONCAT_WS(' ', CAST(`street_number` AS STRING), CAST(`address_1` AS STRING)) AS STRING)
      ),
      ''
    ) AS street,
    CAST(CONCAT_WS(' ', CAST(`street_number` AS STRING), CAST(`address_1` AS STRING)) AS STRING) AS `__raw_street`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS city,
    CAST(NULL AS STRING) AS `__raw_city`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS postcode,
    CAST(NULL AS STRING) AS `__raw_postcode`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS country,
    CAST(NULL AS STRING) AS `__raw_country`,
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS STRING)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS STRING)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS email_opt_in,
    CAST(NULL AS STRING) AS `__raw_email_opt_in`,
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS STRING)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST(NULL AS STRING)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS sms_opt_in,
    CAST(NULL AS STRING) AS `__raw_sms_opt_in`,
    COALESCE(
      TRY_CAST(CAST(NULL AS STRING) AS BIGINT),
      TRY_CAST(TRIM(CAST(NULL AS STRING)) AS BIGINT)
    ) AS email_opens,
    CAST(NULL AS STRING) AS `__raw_email_opens`,
    COALESCE(
      TRY_CAST(CAST(NULL AS STRING) AS BIGINT),
      TRY_CAST(TRIM(CAST(NULL AS STRING)) AS BIGINT)
    ) AS email_clicks,
    CAST(NULL AS STRING) AS `__raw_email_clicks`,
    CAST(NULL AS STRING) AS user_id,
    CAST(NULL AS STRING) AS anonymous_id,
    CAST(NULL AS STRING) AS email,
    CAST(NULL AS STRING) AS phone,
    CAST(NULL AS STRING) AS loyalty_id,
    CAST(NULL AS STRING) AS crm_id,
    CAST(NULL AS STRING) AS extra_ids,
    TO_JSON(
      STRUCT(
        CAST(`id` AS STRING) AS id,
        CAST(`street_number` AS STRING) AS street_number,
        CAST(`address_1` AS STRING) AS address_1,
        CAST(`y` AS STRING) AS y,
        CAST(`m` AS STRING) AS m,
        CAST(`d` AS STRING) AS d
      ),
      MAP('ignoreNullFields', 'false')
    ) AS _raw_json,
    CAST(NULL AS STRING) AS _attributes,
    _file,
    _row
  FROM _stage
) AS typed
