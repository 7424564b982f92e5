// Exact decimal arithmetic on the API's money, which arrives as decimal strings (see api.js):
// sums, differences and comparisons with BigInt, never with binary floating point.

const PLAIN = /^([+-])?(\d+)(?:\.(\d+))?$/;

/** A decimal string as [units, scale]: "12.50" -> [1250n, 2]. */
export function parse(value) {
  const text = String(value).trim();
  const match = PLAIN.exec(text);
  if (!match) throw new Error(`not a plain decimal: ${text}`);
  const [, sign, whole, fraction = ""] = match;
  const units = BigInt(whole + fraction);
  return [sign === "-" ? -units : units, fraction.length];
}

function scaled([units, scale], to) {
  return units * 10n ** BigInt(to - scale);
}

function render(units, scale) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? digits.slice(digits.length - scale).replace(/0+$/, "") : "";
  digits = fraction ? `${whole}.${fraction}` : whole;
  return negative && /[1-9]/.test(digits) ? `-${digits}` : digits;
}

function combine(a, b, op) {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x[1], y[1]);
  return render(op(scaled(x, scale), scaled(y, scale)), scale);
}

export const add = (a, b) => combine(a, b, (x, y) => x + y);
export const sub = (a, b) => combine(a, b, (x, y) => x - y);

export function sum(values) {
  return values.reduce((total, value) => add(total, value), "0");
}

export function compare(a, b) {
  const difference = parse(sub(a, b))[0];
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

export function sign(value) {
  return compare(value, "0");
}

/** For drawing only (chart geometry and percentages), never for amounts. */
export function approximate(value) {
  return Number(value);
}

/**
 * "1234.5" -> "1,234.50": grouped, at least `minDigits` and at most `maxDigits` decimals
 * (the API never sends more than four for cash or prices; an average price may have more,
 * and is shown rounded half up at `maxDigits`).
 */
export function format(value, { minDigits = 2, maxDigits = 4 } = {}) {
  let [units, scale] = parse(value);
  if (scale > maxDigits) {
    const step = 10n ** BigInt(scale - maxDigits);
    const half = step / 2n;
    units = (units < 0n ? units - half : units + half) / step;
    scale = maxDigits;
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  let fraction = scale ? digits.slice(digits.length - scale) : "";
  fraction = fraction.replace(/0+$/, "").padEnd(minDigits, "0");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const text = fraction ? `${grouped}.${fraction}` : grouped;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}
