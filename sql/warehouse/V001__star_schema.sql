-- V001: the star schema of DESIGN.md §2, exactly as totes/star.py declares it (a test compares the two).
--
-- Three stars over shared dimensions. Dimensions hold the latest values, one row per source id (their primary
-- key). Facts keep full history, one row per version of a source row: a warehouse-generated record id, and the
-- natural version key (source id, last_updated date and time) as a UNIQUE constraint, which is what makes a
-- reload or an overlapping batch idempotent (INSERT ... ON CONFLICT DO NOTHING).
--
-- Applied by `python -m totes.warehouse migrate` (make warehouse) as the loader role, which owns the tables.
-- Never edit this file once applied anywhere: the migrator refuses a changed checksum. Add V002__... instead.

-- Dimensions -------------------------------------------------------------------------------------------------

-- One row per calendar day, every day from the earliest to the latest date any fact refers to.
CREATE TABLE dim_date (
    date_id     date    NOT NULL PRIMARY KEY,
    year        integer NOT NULL,
    month       integer NOT NULL,
    day         integer NOT NULL,
    day_of_week integer NOT NULL,  -- ISO: Monday = 1 ... Sunday = 7
    day_name    text    NOT NULL,
    month_name  text    NOT NULL,
    quarter     integer NOT NULL
);

-- One row per staff member, with the current name and location of their department.
CREATE TABLE dim_staff (
    staff_id        integer NOT NULL PRIMARY KEY,
    first_name      text    NOT NULL,
    last_name       text    NOT NULL,
    department_name text    NOT NULL,
    location        text,
    email_address   text    NOT NULL
);

-- One row per address.
CREATE TABLE dim_location (
    location_id    integer NOT NULL PRIMARY KEY,
    address_line_1 text    NOT NULL,
    address_line_2 text,
    district       text,
    city           text    NOT NULL,
    postal_code    text    NOT NULL,
    country        text    NOT NULL,
    phone          text    NOT NULL
);

-- One row per currency, named from ISO 4217 (NULL only for a code ISO 4217 does not know).
CREATE TABLE dim_currency (
    currency_id   integer    NOT NULL PRIMARY KEY,
    currency_code varchar(3) NOT NULL,
    currency_name text
);

-- One row per design.
CREATE TABLE dim_design (
    design_id     integer NOT NULL PRIMARY KEY,
    design_name   text    NOT NULL,
    file_location text    NOT NULL,
    file_name     text    NOT NULL
);

-- One row per counterparty, with its current legal address.
CREATE TABLE dim_counterparty (
    counterparty_id                   integer NOT NULL PRIMARY KEY,
    counterparty_legal_name           text    NOT NULL,
    counterparty_legal_address_line_1 text    NOT NULL,
    counterparty_legal_address_line_2 text,
    counterparty_legal_district       text,
    counterparty_legal_city           text    NOT NULL,
    counterparty_legal_postal_code    text    NOT NULL,
    counterparty_legal_country        text    NOT NULL,
    counterparty_legal_phone_number   text    NOT NULL
);

-- One row per transaction (a sale or a purchase).
CREATE TABLE dim_transaction (
    transaction_id    integer NOT NULL PRIMARY KEY,
    transaction_type  text    NOT NULL,
    sales_order_id    integer,
    purchase_order_id integer
);

-- One row per payment type.
CREATE TABLE dim_payment_type (
    payment_type_id   integer NOT NULL PRIMARY KEY,
    payment_type_name text    NOT NULL
);

-- Facts --------------------------------------------------------------------------------------------------------

-- One row per version of a sales order (a new row whenever its last_updated changes).
CREATE TABLE fact_sales_order (
    sales_record_id             serial        PRIMARY KEY,
    sales_order_id              integer       NOT NULL,
    created_date                date          NOT NULL REFERENCES dim_date (date_id),
    created_time                time(3)       NOT NULL,
    last_updated_date           date          NOT NULL REFERENCES dim_date (date_id),
    last_updated_time           time(3)       NOT NULL,
    sales_staff_id              integer       NOT NULL REFERENCES dim_staff (staff_id),
    counterparty_id             integer       NOT NULL REFERENCES dim_counterparty (counterparty_id),
    units_sold                  integer       NOT NULL,
    unit_price                  numeric(10,2) NOT NULL,
    currency_id                 integer       NOT NULL REFERENCES dim_currency (currency_id),
    design_id                   integer       NOT NULL REFERENCES dim_design (design_id),
    agreed_payment_date         date          NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_date        date          NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_location_id integer       NOT NULL REFERENCES dim_location (location_id),
    CONSTRAINT fact_sales_order_version_key UNIQUE (sales_order_id, last_updated_date, last_updated_time)
);

-- One row per version of a purchase order.
CREATE TABLE fact_purchase_order (
    purchase_record_id          serial        PRIMARY KEY,
    purchase_order_id           integer       NOT NULL,
    created_date                date          NOT NULL REFERENCES dim_date (date_id),
    created_time                time(3)       NOT NULL,
    last_updated_date           date          NOT NULL REFERENCES dim_date (date_id),
    last_updated_time           time(3)       NOT NULL,
    staff_id                    integer       NOT NULL REFERENCES dim_staff (staff_id),
    counterparty_id             integer       NOT NULL REFERENCES dim_counterparty (counterparty_id),
    item_code                   text          NOT NULL,
    item_quantity               integer       NOT NULL,
    item_unit_price             numeric(10,2) NOT NULL,
    currency_id                 integer       NOT NULL REFERENCES dim_currency (currency_id),
    agreed_delivery_date        date          NOT NULL REFERENCES dim_date (date_id),
    agreed_payment_date         date          NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_location_id integer       NOT NULL REFERENCES dim_location (location_id),
    CONSTRAINT fact_purchase_order_version_key UNIQUE (purchase_order_id, last_updated_date, last_updated_time)
);

-- One row per version of a payment (an unpaid and a later paid version are two rows).
CREATE TABLE fact_payment (
    payment_record_id serial        PRIMARY KEY,
    payment_id        integer       NOT NULL,
    created_date      date          NOT NULL REFERENCES dim_date (date_id),
    created_time      time(3)       NOT NULL,
    last_updated_date date          NOT NULL REFERENCES dim_date (date_id),
    last_updated_time time(3)       NOT NULL,
    transaction_id    integer       NOT NULL REFERENCES dim_transaction (transaction_id),
    counterparty_id   integer       NOT NULL REFERENCES dim_counterparty (counterparty_id),
    payment_amount    numeric(10,2) NOT NULL,
    currency_id       integer       NOT NULL REFERENCES dim_currency (currency_id),
    payment_type_id   integer       NOT NULL REFERENCES dim_payment_type (payment_type_id),
    paid              boolean       NOT NULL,
    payment_date      date          NOT NULL REFERENCES dim_date (date_id),
    CONSTRAINT fact_payment_version_key UNIQUE (payment_id, last_updated_date, last_updated_time)
);

-- Dashboards slice facts by when they happened: index the date each star is most often filtered on.
CREATE INDEX fact_sales_order_created_date_idx ON fact_sales_order (created_date);
CREATE INDEX fact_purchase_order_created_date_idx ON fact_purchase_order (created_date);
CREATE INDEX fact_payment_payment_date_idx ON fact_payment (payment_date);

-- Roles ----------------------------------------------------------------------------------------------------------
-- The loader (who runs this) owns and writes the tables; warehouse_reader is the read-only login of dashboards
-- and analysts. It may read every table, including those later migrations create (default privileges of the
-- loader, who creates them), and write none.
GRANT USAGE ON SCHEMA public TO warehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO warehouse_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO warehouse_reader;
