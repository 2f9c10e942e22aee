export { driveLoad, type DispatchContext, type DriveOptions, type DriveResult } from './driver.js';
export { arrivalOffsetsNs, describeLoadPlan, validateLoadPlan, type ArrivalProcess, type LoadPlan } from './plan.js';
export { gammaSample, seededRng, shuffled, type Rng } from './random.js';
export { nowNs, sleepUntil } from './timer.js';
