-- The ten designs with the most units sold (latest version of each sales order).
WITH latest_sales AS (
    SELECT sales_order_id, design_id, units_sold,
           ROW_NUMBER() OVER (PARTITION BY sales_order_id
                              ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
    FROM fact_sales_order
)
SELECT g.design_id, g.design_name, SUM(s.units_sold) AS units_sold, COUNT(*) AS sales_orders
FROM latest_sales s
JOIN dim_design g ON g.design_id = s.design_id
WHERE s.version_rank = 1
GROUP BY g.design_id, g.design_name
ORDER BY units_sold DESC, g.design_id
LIMIT 10
