-- Revenue by month and currency: units sold times unit price of the latest version of each sales order.
-- Money is never summed across currencies.
WITH latest_sales AS (
    SELECT sales_order_id, created_date, units_sold, unit_price, currency_id,
           ROW_NUMBER() OVER (PARTITION BY sales_order_id
                              ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
    FROM fact_sales_order
)
SELECT d.year, d.month, c.currency_code,
       COUNT(*) AS sales_orders,
       SUM(CAST(s.units_sold AS DECIMAL(20, 2)) * s.unit_price) AS revenue
FROM latest_sales s
JOIN dim_date d ON d.date_id = s.created_date
JOIN dim_currency c ON c.currency_id = s.currency_id
WHERE s.version_rank = 1
GROUP BY d.year, d.month, c.currency_code
ORDER BY d.year, d.month, c.currency_code
