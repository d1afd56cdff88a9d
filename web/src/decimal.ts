// Exact decimal arithmetic on the API's decimal strings ("141.39", "-0.5"), with BigInt:
// PnL on the mark and notional are computed without binary floats. Numbers (floats) are
// used only for drawing (bar widths, chart coordinates), never for values shown as money.

export interface Dec {
  readonly units: bigint; // value * 10^scale
  readonly scale: number;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

export function parseDec(text: string): Dec | null {
  const match = DECIMAL.exec(text.trim());
  if (!match) return null;
  const [, sign, whole, frac = ""] = match;
  const units = BigInt(whole + frac) * (sign === "-" ? -1n : 1n);
  return { units, scale: frac.length };
}

export function dec(text: string): Dec {
  return parseDec(text) ?? { units: 0n, scale: 0 };
}

function rescale(a: Dec, scale: number): bigint {
  return a.units * 10n ** BigInt(scale - a.scale);
}

export function add(a: Dec, b: Dec): Dec {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

export function sub(a: Dec, b: Dec): Dec {
  return add(a, { units: -b.units, scale: b.scale });
}

export function mul(a: Dec, b: Dec): Dec {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

export function compare(a: Dec, b: Dec): number {
  const scale = Math.max(a.scale, b.scale);
  const d = rescale(a, scale) - rescale(b, scale);
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}

export function isZero(a: Dec): boolean {
  return a.units === 0n;
}

/** ``a`` as text with exactly ``places`` decimals, rounded half away from zero. */
export function format(a: Dec, places: number): string {
  let units = a.units;
  if (a.scale > places) {
    const div = 10n ** BigInt(a.scale - places);
    const half = div / 2n;
    units = units >= 0n ? (units + half) / div : -((-units + half) / div);
  } else {
    units *= 10n ** BigInt(places - a.scale);
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const frac = places > 0 ? "." + digits.slice(digits.length - places) : "";
  return (negative ? "-" : "") + whole + frac;
}

/** Decimal places of a grid step such as a tick size ("0.001" → 3). */
export function placesOf(step: string): number {
  const d = parseDec(step);
  if (!d) return 2;
  let { units, scale } = d;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return scale;
}

/** ``a`` as a float, for drawing only. */
export function toNumber(a: Dec): number {
  return Number(a.units) / 10 ** a.scale;
}

/** How many lots of ``lot`` fit in ``budget`` at ``price`` (rounded down), as a quantity. */
export function lotsFor(budget: Dec, price: Dec, lot: string): string {
  const step = parseDec(lot);
  if (!step || price.units <= 0n || step.units <= 0n || budget.units <= 0n) return "";
  const per = mul(price, step); // the cost of one lot
  const scale = Math.max(budget.scale, per.scale);
  const lots = (budget.units * 10n ** BigInt(scale - budget.scale)) / (per.units * 10n ** BigInt(scale - per.scale));
  return lots > 0n ? format(mul({ units: lots, scale: 0 }, step), placesOf(lot)) : "";
}
