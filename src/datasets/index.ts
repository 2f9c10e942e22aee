export { BUILTIN_DATASET_ID, BUILTIN_PROMPTS } from './builtin.js';
export { DatasetError, formatOf, readTextColumn, type DatasetFormat } from './files.js';
export { datasetRepoDir, downloadDataset, findCachedDataset, hubCacheDir, isHubDatasetId } from './hf-cache.js';
export { loadDataset, type DatasetOptions, type LoadedDataset } from './load.js';
