-- Purchase spend per counterparty and currency (latest version of each purchase order).
WITH latest_purchases AS (
    SELECT purchase_order_id, counterparty_id, currency_id, item_quantity, item_unit_price,
           ROW_NUMBER() OVER (PARTITION BY purchase_order_id
                              ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
    FROM fact_purchase_order
)
SELECT cp.counterparty_legal_name, c.currency_code,
       COUNT(*) AS purchase_orders,
       SUM(CAST(p.item_quantity AS DECIMAL(20, 2)) * p.item_unit_price) AS spend
FROM latest_purchases p
JOIN dim_counterparty cp ON cp.counterparty_id = p.counterparty_id
JOIN dim_currency c ON c.currency_id = p.currency_id
WHERE p.version_rank = 1
GROUP BY cp.counterparty_legal_name, c.currency_code
ORDER BY spend DESC, cp.counterparty_legal_name, c.currency_code
