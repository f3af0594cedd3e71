export { publishLocalAdmin, resolveLocalAdmin, tokenFilePath, type LocalAdminOptions, type LocalAdminToken } from './local-admin.js';
export { publishTokenDigest, publishedTokenDigests, type PublishOptions } from './published.js';
export { localAdminKeys, type LocalAdminKeys } from './keys.js';
export { folderServing, servedFolders, type ServedFolder } from './served-folders.js';
export { ensureTokenFile, readTokenFile, type OwnTokenFile } from './token-file.js';
