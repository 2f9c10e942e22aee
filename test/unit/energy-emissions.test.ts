import { describe, expect, it } from 'vitest';

import { COUNTRIES } from '../../src/energy/carbon-intensity.js';
import { EmissionsConfigError, emissionsFor } from '../../src/energy/index.js';

describe('emissionsFor', () => {
  it('multiplies energy by the country intensity and names its source', () => {
    const r = emissionsFor(3.6e6, { countryIsoCode: 'FRA' }); // 1 kWh
    expect(r).toEqual({ grams: 56, intensityGPerKWh: 56, source: expect.stringMatching(/^Ember .*2023/), region: 'France' });
    expect(emissionsFor(1.8e6, { countryIsoCode: 'de' }).grams).toBeCloseTo(381 / 2, 12);
  });

  it('applies a sub-national region by name or code', () => {
    const ca = emissionsFor(3.6e6, { countryIsoCode: 'USA', region: 'california' });
    expect(ca).toMatchObject({ grams: 200, region: 'United States / California', source: expect.stringMatching(/eGRID2022/) });
    expect(emissionsFor(3.6e6, { countryIsoCode: 'CAN', region: 'QC' })).toMatchObject({ intensityGPerKWh: 2, region: 'Canada / Quebec' });
    expect(emissionsFor(3.6e6, { countryIsoCode: 'CAN', region: 'british_columbia' }).intensityGPerKWh).toBe(12);
    expect(emissionsFor(3.6e6, { countryIsoCode: 'USA' }).intensityGPerKWh).toBe(369);
  });

  it('uses the world average only when no country is configured, and says so', () => {
    expect(emissionsFor(3.6e6)).toMatchObject({ grams: 480, region: 'world average (no country configured)' });
    expect(emissionsFor(0, { countryIsoCode: 'WORLD' })).toMatchObject({ grams: 0, region: 'world average' });
  });

  it('rejects unknown places and bad energy with a clear error', () => {
    expect(() => emissionsFor(1, { countryIsoCode: 'XYZ' })).toThrow(EmissionsConfigError);
    expect(() => emissionsFor(1, { countryIsoCode: 'XYZ' })).toThrow(/no grid carbon intensity for country code 'XYZ'.*'WORLD'/);
    expect(() => emissionsFor(1, { countryIsoCode: 'USA', region: 'atlantis' })).toThrow(
      /region 'atlantis' of United States: known regions are california \(CA\)/,
    );
    expect(() => emissionsFor(1, { countryIsoCode: 'FRA', region: 'paris' })).toThrow(/no regional grid carbon intensity for France/);
    expect(() => emissionsFor(1, { region: 'quebec' })).toThrow(/without a country/);
    expect(() => emissionsFor(-1, { countryIsoCode: 'FRA' })).toThrow(RangeError);
    expect(() => emissionsFor(Number.NaN)).toThrow(/finite, non-negative/);
  });

  it('has a well-formed table (unique codes, plausible intensities)', () => {
    const a3 = COUNTRIES.map((c) => c.alpha3);
    const a2 = COUNTRIES.map((c) => c.alpha2);
    expect(new Set(a3).size).toBe(a3.length);
    expect(new Set(a2).size).toBe(a2.length);
    for (const c of COUNTRIES) {
      expect(c.alpha3).toMatch(/^[A-Z]{3}$/);
      expect(c.alpha2).toMatch(/^[A-Z]{2}$/);
      expect(c.gPerKWh).toBeGreaterThan(0);
      expect(c.gPerKWh).toBeLessThan(1200);
    }
  });
});
