// Grid carbon intensity table (g CO2e per kWh of electricity), written for this project as
// data. Figures are rounded and were transcribed without network access from the sources
// named in each entry; check them against the source before publishing results that depend
// on them, and update the `source` string with the figures.

export interface IntensityEntry {
  gPerKWh: number;
  name: string;
  source: string;
}

export interface CountryIntensity extends IntensityEntry {
  alpha3: string;
  alpha2: string;
  /** Sub-national figures keyed by lower-case name; `code` is the postal abbreviation. */
  regions?: Record<string, IntensityEntry & { code: string }>;
}

const EMBER_2023 =
  'Ember Yearly Electricity Data (2024 release), carbon intensity of electricity generation 2023, lifecycle g CO2e/kWh (as charted by Our World in Data)';
const EGRID_2022 =
  'US EPA eGRID2022 (2024), state total-output CO2e emission rate, converted from lb/MWh';
const CANADA_NIR_2022 =
  'Environment and Climate Change Canada, National Inventory Report 1990–2022 (2024), Annex 13 electricity consumption intensity 2022';

export const WORLD_AVERAGE: IntensityEntry = { gPerKWh: 480, name: 'world average', source: EMBER_2023 };

const country = (
  alpha3: string,
  alpha2: string,
  name: string,
  gPerKWh: number,
  regions?: CountryIntensity['regions'],
): CountryIntensity => ({ alpha3, alpha2, name, gPerKWh, source: EMBER_2023, ...(regions ? { regions } : {}) });

const region = (name: string, code: string, gPerKWh: number, source: string) => ({ name, code, gPerKWh, source });

const US_STATES = Object.fromEntries(
  [
    region('California', 'CA', 200, EGRID_2022),
    region('Washington', 'WA', 90, EGRID_2022),
    region('Oregon', 'OR', 150, EGRID_2022),
    region('Texas', 'TX', 370, EGRID_2022),
    region('New York', 'NY', 225, EGRID_2022),
    region('Virginia', 'VA', 290, EGRID_2022),
    region('Illinois', 'IL', 270, EGRID_2022),
  ].map((r) => [r.name.toLowerCase(), r]),
);

const CANADIAN_PROVINCES = Object.fromEntries(
  [
    region('Quebec', 'QC', 2, CANADA_NIR_2022),
    region('Ontario', 'ON', 36, CANADA_NIR_2022),
    region('British Columbia', 'BC', 12, CANADA_NIR_2022),
    region('Manitoba', 'MB', 2, CANADA_NIR_2022),
    region('Alberta', 'AB', 490, CANADA_NIR_2022),
    region('Saskatchewan', 'SK', 640, CANADA_NIR_2022),
    region('Nova Scotia', 'NS', 650, CANADA_NIR_2022),
  ].map((r) => [r.name.toLowerCase(), r]),
);

export const COUNTRIES: readonly CountryIntensity[] = [
  country('USA', 'US', 'United States', 369, US_STATES),
  country('CAN', 'CA', 'Canada', 170, CANADIAN_PROVINCES),
  country('MEX', 'MX', 'Mexico', 410),
  country('BRA', 'BR', 'Brazil', 98),
  country('CHL', 'CL', 'Chile', 290),
  country('GBR', 'GB', 'United Kingdom', 238),
  country('IRL', 'IE', 'Ireland', 282),
  country('FRA', 'FR', 'France', 56),
  country('DEU', 'DE', 'Germany', 381),
  country('NLD', 'NL', 'Netherlands', 268),
  country('BEL', 'BE', 'Belgium', 140),
  country('ESP', 'ES', 'Spain', 174),
  country('PRT', 'PT', 'Portugal', 160),
  country('ITA', 'IT', 'Italy', 288),
  country('CHE', 'CH', 'Switzerland', 35),
  country('SWE', 'SE', 'Sweden', 41),
  country('NOR', 'NO', 'Norway', 30),
  country('FIN', 'FI', 'Finland', 79),
  country('DNK', 'DK', 'Denmark', 151),
  country('ISL', 'IS', 'Iceland', 28),
  country('POL', 'PL', 'Poland', 662),
  country('CZE', 'CZ', 'Czechia', 450),
  country('TUR', 'TR', 'Turkey', 420),
  country('RUS', 'RU', 'Russia', 441),
  country('SAU', 'SA', 'Saudi Arabia', 696),
  country('ZAF', 'ZA', 'South Africa', 708),
  country('IND', 'IN', 'India', 713),
  country('CHN', 'CN', 'China', 582),
  country('JPN', 'JP', 'Japan', 485),
  country('KOR', 'KR', 'South Korea', 432),
  country('TWN', 'TW', 'Taiwan', 642),
  country('SGP', 'SG', 'Singapore', 471),
  country('IDN', 'ID', 'Indonesia', 675),
  country('AUS', 'AU', 'Australia', 548),
  country('NZL', 'NZ', 'New Zealand', 112),
];
