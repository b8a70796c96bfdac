SELECT
  order_id,
  ts,
  amount,
  currency,
  channel,
  store_id,
  promo,
  `__raw_promo`,
  status,
  `__rawid_email`,
  `__rawid_phone`,
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
  order_id AS _key,
  CASE
    WHEN NOT order_id IS NULL AND NOT ts IS NULL AND NOT amount IS NULL
    THEN NULL
    ELSE NULLIF(
      CONCAT_WS(
        '; ',
        CASE
          WHEN order_id IS NULL AND NULLIF(TRIM(`__raw_order_id`), '') IS NULL
          THEN 'missing order_id (column \'receipt\')'
        END,
        CASE
          WHEN ts IS NULL AND NULLIF(TRIM(`__raw_ts`), '') IS NULL
          THEN 'missing ts (column \'sold_at\')'
        END,
        CASE
          WHEN ts IS NULL AND NOT NULLIF(TRIM(`__raw_ts`), '') IS NULL
          THEN 'ts (column \'sold_at\'): ' || '\'' || `__raw_ts` || '\'' || ' is not a timestamp'
        END,
        CASE
          WHEN amount IS NULL AND NULLIF(TRIM(`__raw_amount`), '') IS NULL
          THEN 'missing amount (column \'total\')'
        END,
        CASE
          WHEN amount IS NULL AND NOT NULLIF(TRIM(`__raw_amount`), '') IS NULL
          THEN 'amount (column \'total\'): ' || '\'' || `__raw_amount` || '\'' || ' is not an amount'
        END
      ),
      ''
    )
  END AS _reason,
  (
    NOT order_id IS NULL AND NOT ts IS NULL AND NOT amount IS NULL
  ) IS TRUE AS _passes
FROM (
  SELECT
    NULLIF(TRIM(CAST(`receipt` AS STRING)), '') AS order_id,
    CAST(`receipt` AS STRING) AS `__raw_order_id`,
    COALESCE(
      TRY_CAST(CAST(`sold_at` AS STRING) AS TIMESTAMP_NTZ),
      TRY_CAST(TRIM(CAST(`sold_at` AS STRING)) AS TIMESTAMP_NTZ)
    ) AS ts,
    CAST(`sold_at` AS STRING) AS `__raw_ts`,
    COALESCE(
      TRY_CAST(CAST(`total` AS STRING) AS DECIMAL(18, 2)),
      TRY_CAST(TRIM(CAST(`total` AS STRING)) AS DECIMAL(18, 2))
    ) AS amount,
    CAST(`total` AS STRING) AS `__raw_amount`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS currency,
    CAST(NULL AS STRING) AS `__raw_currency`,
    NULLIF(TRIM(CAST('store' AS STRING)), '') AS channel,
    CAST('store' AS STRING) AS `__raw_channel`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS store_id,
    CAST(NULL AS STRING) AS `__raw_store_id`,
    CASE
      WHEN LOWER(NULLIF(TRIM(CAST(`promo` AS STRING)), '')) IN ('true', 't', '1', 'yes', 'y')
      THEN TRUE
      WHEN LOWER(NULLIF(TRIM(CAST(`promo` AS STRING)), '')) IN ('false', 'f', '0', 'no', 'n')
      THEN FALSE
    END AS promo,
    CAST(`promo` AS STRING) AS `__raw_promo`,
    NULLIF(TRIM(CAST(NULL AS STRING)), '') AS status,
    CAST(NULL AS STRING) AS `__raw_status`,
    NULLIF(TRIM(CAST(`card` AS STRING)), '') AS loyalty_id,
    CAST(`email` AS STRING) AS `__rawid_email`,
    CASE
      WHEN LOWER(TRIM(CAST(`email` AS STRING))) RLIKE '^[^@\\s]+@[^@\\s]+\\.[^@\\s.]{2,}$'
      THEN LOWER(TRIM(CAST(`email` AS STRING)))
    END AS email,
    CAST(`phone` AS STRING) AS `__rawid_phone`,
    CASE
      WHEN CASE
        WHEN STARTSWITH(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '+')
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '00'
        )
        THEN '+' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          3
        )
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '0'
        )
        THEN '+1' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          2
        )
        WHEN LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        ) IN (10)
        THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '1'
        )
        AND LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        ) IN (11)
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
      END RLIKE '^\\+[1-9][0-9]{7,14}$'
      AND REPLACE(
        SUBSTRING(
          CASE
            WHEN STARTSWITH(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '+')
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '00'
            )
            THEN '+' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              3
            )
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '0'
            )
            THEN '+1' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              2
            )
            WHEN LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            ) IN (10)
            THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '1'
            )
            AND LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            ) IN (11)
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
          END,
          2
        ),
        SUBSTRING(
          CASE
            WHEN STARTSWITH(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '+')
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '00'
            )
            THEN '+' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              3
            )
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '0'
            )
            THEN '+1' || SUBSTRING(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              2
            )
            WHEN LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            ) IN (10)
            THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            WHEN STARTSWITH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
              '1'
            )
            AND LENGTH(
              REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
            ) IN (11)
            THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
          END,
          2,
          1
        ),
        ''
      ) <> ''
      THEN CASE
        WHEN STARTSWITH(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '+')
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '00'
        )
        THEN '+' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          3
        )
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '0'
        )
        THEN '+1' || SUBSTRING(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          2
        )
        WHEN LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        ) IN (10)
        THEN '+1' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        WHEN STARTSWITH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', ''),
          '1'
        )
        AND LENGTH(
          REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
        ) IN (11)
        THEN '+' || REGEXP_REPLACE(REGEXP_REPLACE(TRIM(CAST(`phone` AS STRING)), '[(]0[)]', ''), '[^0-9]', '')
      END
    END AS phone,
    CAST(NULL AS STRING) AS user_id,
    CAST(NULL AS STRING) AS anonymous_id,
    CAST(NULL AS STRING) AS crm_id,
    CAST(NULL AS STRING) AS extra_ids,
    TO_JSON(
      STRUCT(
        CAST(`receipt` AS STRING) AS receipt,
        CAST(`sold_at` AS STRING) AS sold_at,
        CAST(`total` AS STRING) AS total,
        CAST(`card` AS STRING) AS card,
        CAST(`email` AS STRING) AS email,
        CAST(`phone` AS STRING) AS phone,
        CAST(`promo` AS STRING) AS promo
      ),
      MAP('ignoreNullFields', 'false')
    ) AS _raw_json,
    CAST(NULL AS STRING) AS _attributes,
    _file,
    _row
  FROM stage
) AS typed
