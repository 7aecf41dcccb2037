/** Exact rational numbers for generated problems: answers must be exact, never floating point. */

export interface Fraction {
  /** Numerator; carries the sign. */
  num: number;
  /** Denominator; always positive. */
  den: number;
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Builds a reduced fraction with a positive denominator. */
export function makeFraction(num: number, den = 1): Fraction {
  if (den === 0) throw new RangeError("denominator must not be 0");
  const sign = den < 0 ? -1 : 1;
  const g = gcd(num, den) || 1;
  return { num: (sign * num) / g + 0, den: Math.abs(den) / g };
}

export function addFractions(a: Fraction, b: Fraction): Fraction {
  return makeFraction(a.num * b.den + b.num * a.den, a.den * b.den);
}

export function subtractFractions(a: Fraction, b: Fraction): Fraction {
  return makeFraction(a.num * b.den - b.num * a.den, a.den * b.den);
}

export function multiplyFractions(a: Fraction, b: Fraction): Fraction {
  return makeFraction(a.num * b.num, a.den * b.den);
}

export function divideFractions(a: Fraction, b: Fraction): Fraction {
  return makeFraction(a.num * b.den, a.den * b.num);
}

/** "7", "-3" or "19/12" (the form answers are written in). */
export function formatFraction(f: Fraction): string {
  return f.den === 1 ? String(f.num) : `${f.num}/${f.den}`;
}
