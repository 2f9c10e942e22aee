// Emissions = energy × grid carbon intensity for a stated country/region.
// Choice: no country configured → the world average, labelled as such in `region`/`source`;
// a country or region not in the table → EmissionsConfigError (never a silent fallback).

import { COUNTRIES, WORLD_AVERAGE, type CountryIntensity, type IntensityEntry } from './carbon-intensity.js';

export interface EmissionsLocation {
  /** ISO 3166-1 alpha-3 (as in the old config, e.g. 'USA') or alpha-2; 'WORLD' for the world average. */
  countryIsoCode?: string | undefined;
  /** Sub-national region (e.g. 'california' or 'CA', 'quebec' or 'QC'), where the table has it. */
  region?: string | undefined;
}

export interface EmissionsResult {
  grams: number;
  intensityGPerKWh: number;
  source: string;
  /** What the intensity applies to, e.g. 'United States / California' or 'world average (no country configured)'. */
  region?: string;
}

export class EmissionsConfigError extends Error {
  readonly code = 'EMISSIONS_LOCATION';
  constructor(message: string) {
    super(message);
    this.name = 'EmissionsConfigError';
  }
}

const JOULES_PER_KWH = 3.6e6;

function findCountry(code: string): CountryIntensity | undefined {
  const c = code.trim().toUpperCase();
  return COUNTRIES.find((x) => x.alpha3 === c || x.alpha2 === c);
}

/** Resolves the intensity for a location; throws EmissionsConfigError for unknown places. */
export function carbonIntensityFor(location: EmissionsLocation = {}): IntensityEntry & { label: string } {
  const code = location.countryIsoCode?.trim();
  const regionName = location.region?.trim();
  if (!code || code.toUpperCase() === 'WORLD') {
    if (regionName) {
      throw new EmissionsConfigError(`emissions region '${regionName}' given without a country: set metrics.country_iso_code`);
    }
    return { ...WORLD_AVERAGE, label: code ? 'world average' : 'world average (no country configured)' };
  }
  const country = findCountry(code);
  if (!country) {
    throw new EmissionsConfigError(
      `no grid carbon intensity for country code '${code}': use an ISO 3166 code from the table (${COUNTRIES.map((c) => c.alpha3).join(', ')}) or 'WORLD' for the world average`,
    );
  }
  if (!regionName) return { ...country, label: country.name };
  const key = regionName.toLowerCase().replace(/[_-]+/g, ' ');
  const regions = Object.values(country.regions ?? {});
  const hit = regions.find((r) => r.name.toLowerCase() === key || r.code.toLowerCase() === key);
  if (!hit) {
    const known = regions.map((r) => `${r.name.toLowerCase()} (${r.code})`).join(', ');
    throw new EmissionsConfigError(
      known
        ? `no grid carbon intensity for region '${regionName}' of ${country.name}: known regions are ${known}; omit the region to use the national figure`
        : `no regional grid carbon intensity for ${country.name}: omit metrics.region to use the national figure`,
    );
  }
  return { ...hit, label: `${country.name} / ${hit.name}` };
}

export function emissionsFor(joules: number, location: EmissionsLocation = {}): EmissionsResult {
  if (!(Number.isFinite(joules) && joules >= 0)) {
    throw new RangeError(`emissionsFor: energy must be a finite, non-negative number of joules (got ${joules})`);
  }
  const intensity = carbonIntensityFor(location);
  return {
    grams: (joules / JOULES_PER_KWH) * intensity.gPerKWh,
    intensityGPerKWh: intensity.gPerKWh,
    source: intensity.source,
    region: intensity.label,
  };
}
