// Whether a command-line tool a test needs is installed (CI installs them: see .ci/run).
import { execFileSync } from 'node:child_process';

export function haveCommand(command: string, versionFlag = '--version'): boolean {
  try {
    execFileSync(command, [versionFlag], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
