// ESM entry point: the same objects as the CommonJS entry (one module instance, one addon).
import anaf from './index.js'

export const { Client, Sandbox, Archive, MessageStream, AnafError, validateCif, setLogger, version } = anaf
export default anaf
