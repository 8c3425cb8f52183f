-- Not part of the production totesys schema: the one index a delta read needs. Without it every 15-minute
-- delta scans whole tables (the window predicate is on last_updated). On RDS, ask the source owner to add
-- these; they are cheap (one timestamp per row) and the OLTP application never notices them.
CREATE INDEX IF NOT EXISTS address_last_updated_idx ON address (last_updated);
CREATE INDEX IF NOT EXISTS counterparty_last_updated_idx ON counterparty (last_updated);
CREATE INDEX IF NOT EXISTS currency_last_updated_idx ON currency (last_updated);
CREATE INDEX IF NOT EXISTS department_last_updated_idx ON department (last_updated);
CREATE INDEX IF NOT EXISTS design_last_updated_idx ON design (last_updated);
CREATE INDEX IF NOT EXISTS payment_type_last_updated_idx ON payment_type (last_updated);
CREATE INDEX IF NOT EXISTS staff_last_updated_idx ON staff (last_updated);
CREATE INDEX IF NOT EXISTS sales_order_last_updated_idx ON sales_order (last_updated);
CREATE INDEX IF NOT EXISTS purchase_order_last_updated_idx ON purchase_order (last_updated);
CREATE INDEX IF NOT EXISTS transaction_last_updated_idx ON "transaction" (last_updated);
CREATE INDEX IF NOT EXISTS payment_last_updated_idx ON payment (last_updated);
