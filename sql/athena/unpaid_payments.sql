-- Payments whose latest version is still unpaid, per currency and payment type, with how many are overdue.
WITH latest_payments AS (
    SELECT payment_id, payment_amount, currency_id, payment_type_id, paid, payment_date,
           ROW_NUMBER() OVER (PARTITION BY payment_id
                              ORDER BY last_updated_date DESC, last_updated_time DESC) AS version_rank
    FROM fact_payment
)
SELECT c.currency_code, t.payment_type_name,
       COUNT(*) AS unpaid_payments,
       SUM(p.payment_amount) AS unpaid_amount,
       SUM(CASE WHEN p.payment_date < CURRENT_DATE THEN 1 ELSE 0 END) AS overdue_payments
FROM latest_payments p
JOIN dim_currency c ON c.currency_id = p.currency_id
JOIN dim_payment_type t ON t.payment_type_id = p.payment_type_id
WHERE p.version_rank = 1 AND NOT p.paid
GROUP BY c.currency_code, t.payment_type_name
ORDER BY c.currency_code, t.payment_type_name
