// A group of energy sensors read together at the start and end of a window.

import type { EnergyFigure, EnergyMethod, EnergyScope, EnergyStatus } from './types.js';

/** One row of `aeb env`'s sensor list. */
export interface SensorDescription {
  scope: EnergyScope;
  method: EnergyMethod;
  status: EnergyStatus;
  source: string;
  reason?: string;
}

/** Figures as a probe reports them; the monitor adds idle subtraction. */
export type ProbeFigure = Omit<EnergyFigure, 'dynamicJoules'>;

export interface EnergyProbe {
  /** Which sensors this probe has and why any are unavailable (may read the sensors once). */
  describe(): Promise<SensorDescription[]>;
  /** Captures the start state; called again only after end(). */
  begin(): Promise<void>;
  /** Energy since begin(), one figure per source. */
  end(): Promise<ProbeFigure[]>;
  close(): void;
}

/** A probe for sensors known to be missing: every window reports them `unavailable`. */
export function unavailableProbe(
  entries: Array<{ scope: EnergyScope; method: EnergyMethod; source: string; reason: string }>,
): EnergyProbe {
  const figures = (): ProbeFigure[] =>
    entries.map((e) => ({ ...e, status: 'unavailable' as const, joules: null }));
  return {
    describe: async () => entries.map((e) => ({ ...e, status: 'unavailable' as const })),
    begin: async () => {},
    end: async () => figures(),
    close: () => {},
  };
}

/** Message text of a caught value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
