/** Inter-arrival times for open-loop (request rate) load, as vLLM's benchmark draws them. */

/** Draw a Gamma(shape, 1) variate (Marsaglia and Tsang), given a uniform source. */
export function drawGamma(shape: number, random: () => number): number {
  if (shape < 1) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a)
    const u = Math.max(random(), 1e-12);
    return drawGamma(shape + 1, random) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let guard = 0; guard < 1000; guard++) {
    let x: number;
    let v: number;
    do {
      const u1 = Math.max(random(), 1e-12);
      const u2 = random();
      x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = Math.max(random(), 1e-12);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
  return shape;
}

export interface ArrivalOptions {
  /** Requests per second. */
  rate: number;
  arrival: "poisson" | "constant";
  /** Gamma shape factor: 1 is Poisson; below 1 burstier, above 1 more regular. */
  burstiness: number;
}

/**
 * A generator of gaps in milliseconds between intended send times. Constant gives 1000/rate; otherwise gaps
 * follow Gamma(shape = burstiness, scale = 1 / (rate * burstiness)), whose mean is 1/rate whatever the shape.
 */
export function createArrivalGaps(options: ArrivalOptions, random: () => number): () => number {
  const mean = 1000 / options.rate;
  if (options.arrival === "constant") return () => mean;
  const shape = options.burstiness;
  return () => (drawGamma(shape, random) * mean) / shape;
}
