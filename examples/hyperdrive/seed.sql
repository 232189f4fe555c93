-- The embedded database's first contents (run once, when .wharf/hyperdrive/HYPERDRIVE is created).
CREATE TABLE products (
  id serial PRIMARY KEY,
  name text NOT NULL,
  price_cents integer NOT NULL
);
INSERT INTO products (name, price_cents) VALUES
  ('anchor', 4900),
  ('bollard', 12900),
  ('capstan', 89900);
