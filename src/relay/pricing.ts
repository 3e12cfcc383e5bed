/**
 * Quota units: tokens weighted by a per-model ratio (LYSS_MODEL_RATIOS, default 1), so by default a
 * request costs prompt + completion tokens. A ratio applies to the model the client asked for.
 */
export interface Pricing {
  ratio(model: string): number;
  /** Quota units for a token count, rounded up so fractional ratios never undercharge. */
  units(model: string, tokens: number): number;
  /** The most tokens `units` pays for. */
  tokensFor(model: string, units: number): number;
}

export function createPricing(ratios: Record<string, number> = {}): Pricing {
  const ratio = (model: string) => ratios[model] ?? 1;
  return {
    ratio,
    units: (model, tokens) => Math.ceil(tokens * ratio(model)),
    tokensFor: (model, units) => Math.floor(units / ratio(model)),
  };
}
