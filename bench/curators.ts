/** The benchmarks' curators (`curator-set.ts`), made by the library's sources. */
import { defineCurator } from '../src';
import { benchCurators } from './curator-set';

export const { benchText, benchTextClaude } = benchCurators(defineCurator);

export default [benchText, benchTextClaude];
