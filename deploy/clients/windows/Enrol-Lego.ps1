<#
.SYNOPSIS
Enrols the certificate of an IIS site from the ACME proxy with lego.exe,
and keeps it renewed by a scheduled task running as SYSTEM.

.DESCRIPTION
Best effort: no Windows machine exists where this was written. The lego
argument list (lego-args.txt, next to this script) was run against the
proxy with Linux lego; the Windows parts (IIS, the certificate store, the
scheduled task) were not run. Plain Windows PowerShell 5.1, modules
WebAdministration and PKI (both in Windows Server with IIS).

Once, as Administrator:
  .\Enrol-Lego.ps1 -Install -Name www -Server https://acme.example.org/directory `
      -Domains www.example.org,example.org -Email webmaster@example.org `
      -Kid KID -Hmac HMAC -SiteName 'Default Web Site' -RootCert .\acmeproxy-root.crt

-Install trusts the proxy's root (LocalMachine\Root), copies this script,
lego-args.txt and the root to C:\ProgramData\lego-renew\NAME (readable by
SYSTEM and Administrators only), writes config.json there, registers the
task "lego-renew NAME" (daily at 03:00 plus up to 6 h at random, as
SYSTEM) and runs it once. The task runs
  Enrol-Lego.ps1 -ConfigFile C:\ProgramData\lego-renew\NAME\config.json
which runs "lego run" (no certificate yet) or "lego renew --days N" with
http-01 through the site's webroot, and when lego wrote a new PFX imports
it into LocalMachine\My, binds it to the site's https binding for the
first name (SNI; created when missing) and removes the previous one.
Output: C:\ProgramData\lego-renew\NAME\last-run.log.
#>
[CmdletBinding(DefaultParameterSetName = 'Task')]
param(
    [Parameter(ParameterSetName = 'Install', Mandatory)] [switch] $Install,
    [Parameter(ParameterSetName = 'Install', Mandatory)] [string] $Name,
    [Parameter(ParameterSetName = 'Install', Mandatory)] [string] $Server,
    [Parameter(ParameterSetName = 'Install', Mandatory)] [string[]] $Domains,
    [Parameter(ParameterSetName = 'Install', Mandatory)] [string] $Email,
    [Parameter(ParameterSetName = 'Install', Mandatory)] [string] $RootCert,
    [Parameter(ParameterSetName = 'Install')] [string] $Kid = '',
    [Parameter(ParameterSetName = 'Install')] [string] $Hmac = '',
    [Parameter(ParameterSetName = 'Install')] [string] $SiteName = 'Default Web Site',
    [Parameter(ParameterSetName = 'Install')] [string] $LegoExe = 'C:\Program Files\lego\lego.exe',
    [Parameter(ParameterSetName = 'Install')] [string] $KeyType = 'rsa2048',
    [Parameter(ParameterSetName = 'Install')] [int] $RenewDays = 30,
    [Parameter(ParameterSetName = 'Task', Mandatory)] [string] $ConfigFile
)
Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# The lego argument list for Action ('run' or 'renew') from lego-args.txt
# (rules at its top) and the values in $V.
function Get-LegoArgs([string] $Action, [hashtable] $V, [string] $Template) {
    $section = ''
    $list = New-Object System.Collections.Generic.List[string]
    foreach ($line in Get-Content -LiteralPath $Template) {
        $line = $line.Trim()
        if ($line -eq '' -or $line.StartsWith('#')) { continue }
        if ($line -match '^\[(run|renew)\]$') { $section = $Matches[1]; continue }
        if ($section -ne '' -and $section -ne $Action) { continue }
        if ($line -eq '{Domains}') {
            foreach ($d in $V.Domains) { $list.Add('--domains'); $list.Add($d) }
            continue
        }
        if ($line -eq '{Eab}') {
            if ($V.Kid -ne '') { $list.AddRange([string[]] @('--eab', '--kid', $V.Kid, '--hmac', $V.Hmac)) }
            continue
        }
        foreach ($k in @($V.Keys)) { $line = $line.Replace('{' + $k + '}', [string] $V[$k]) }
        if ($line -match '\{\w+\}') { throw "lego-args.txt: no value for $($Matches[0])" }
        $list.Add($line)
    }
    return , $list.ToArray()
}

function Install-Enrolment {
    $dir = Join-Path $env:ProgramData "lego-renew\$Name"
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    # SYSTEM and Administrators only (SIDs: any Windows language).
    icacls $dir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
    Import-Certificate -FilePath $RootCert -CertStoreLocation Cert:\LocalMachine\Root | Out-Null
    Copy-Item -LiteralPath $RootCert -Destination (Join-Path $dir 'acmeproxy-root.crt') -Force
    Copy-Item -LiteralPath $PSCommandPath, (Join-Path $PSScriptRoot 'lego-args.txt') -Destination $dir -Force
    $bytes = New-Object byte[] 24
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    $config = [ordered] @{
        Name = $Name; Server = $Server; Domains = @($Domains); Email = $Email
        Kid = $Kid; Hmac = $Hmac; SiteName = $SiteName; LegoExe = $LegoExe
        KeyType = $KeyType; RenewDays = $RenewDays; Thumbprint = ''
        PfxPass = -join ($bytes | ForEach-Object { $_.ToString('x2') })
    }
    $configFile = Join-Path $dir 'config.json'
    $config | ConvertTo-Json | Set-Content -LiteralPath $configFile -Encoding UTF8
    $script = Join-Path $dir 'Enrol-Lego.ps1'
    $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument `
        "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$script`" -ConfigFile `"$configFile`""
    $trigger = New-ScheduledTaskTrigger -Daily -At 3am -RandomDelay (New-TimeSpan -Hours 6)
    $principal = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -ExecutionTimeLimit (New-TimeSpan -Minutes 30)
    Register-ScheduledTask -TaskName "lego-renew $Name" -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Force | Out-Null
    Start-ScheduledTask -TaskName "lego-renew $Name"
    Write-Output "Registered task 'lego-renew $Name'; log: $(Join-Path $dir 'last-run.log')"
}

function Invoke-Renewal {
    $dir = Split-Path -Parent $ConfigFile
    Start-Transcript -LiteralPath (Join-Path $dir 'last-run.log') | Out-Null
    try {
        $cfg = Get-Content -LiteralPath $ConfigFile -Raw | ConvertFrom-Json
        Import-Module WebAdministration
        $site = Get-Website -Name $cfg.SiteName
        if ($null -eq $site) { throw "no IIS site '$($cfg.SiteName)'" }
        $webroot = [Environment]::ExpandEnvironmentVariables($site.physicalPath)
        # IIS serves no extensionless file without a MIME type for it.
        $challenge = Join-Path $webroot '.well-known\acme-challenge'
        New-Item -ItemType Directory -Force -Path $challenge | Out-Null
        $webConfig = Join-Path $challenge 'web.config'
        if (-not (Test-Path -LiteralPath $webConfig)) {
            Set-Content -LiteralPath $webConfig -Encoding UTF8 -Value (
                '<?xml version="1.0" encoding="UTF-8"?><configuration><system.webServer>' +
                '<staticContent><mimeMap fileExtension="." mimeType="text/plain" /></staticContent>' +
                '<handlers><clear /><add name="StaticFile" path="*" verb="GET" ' +
                'modules="StaticFileModule" resourceType="Either" /></handlers>' +
                '</system.webServer></configuration>')
        }
        $first = [string] $cfg.Domains[0]
        $certs = Join-Path $dir 'certificates'
        $pfx = Join-Path $certs ($first.Replace('*', '_') + '.pfx')
        $action = if (Test-Path -LiteralPath $pfx) { 'renew' } else { 'run' }
        $values = @{
            Server = $cfg.Server; Email = $cfg.Email; DataDir = $dir; KeyType = $cfg.KeyType
            Webroot = $webroot; PfxPass = $cfg.PfxPass; RenewDays = $cfg.RenewDays
            Domains = @($cfg.Domains); Kid = $cfg.Kid; Hmac = $cfg.Hmac
        }
        $legoArgs = Get-LegoArgs $action $values (Join-Path $dir 'lego-args.txt')
        $env:LEGO_CA_CERTIFICATES = Join-Path $dir 'acmeproxy-root.crt'
        # lego logs to stderr: as text into the transcript, not as errors.
        $ErrorActionPreference = 'Continue'
        & $cfg.LegoExe @legoArgs 2>&1 | ForEach-Object { Write-Output "$_" }
        $ErrorActionPreference = 'Stop'
        if ($LASTEXITCODE -ne 0) { throw "lego $action exited with $LASTEXITCODE" }

        $pass = ConvertTo-SecureString -String $cfg.PfxPass -AsPlainText -Force
        $thumb = (Get-PfxData -FilePath $pfx -Password $pass).EndEntityCertificates[0].Thumbprint
        if ($thumb -eq $cfg.Thumbprint) { Write-Output 'Certificate not due: nothing changed.'; return }
        Import-PfxCertificate -FilePath $pfx -CertStoreLocation Cert:\LocalMachine\My -Password $pass | Out-Null

        $binding = Get-WebBinding -Name $cfg.SiteName -Protocol https -HostHeader $first
        if ($null -eq $binding) {
            New-WebBinding -Name $cfg.SiteName -Protocol https -Port 443 -HostHeader $first -SslFlags 1
            $binding = Get-WebBinding -Name $cfg.SiteName -Protocol https -HostHeader $first
        }
        $binding.AddSslCertificate($thumb, 'My')

        $old = [string] $cfg.Thumbprint
        if ($old -ne '' -and (Test-Path -LiteralPath "Cert:\LocalMachine\My\$old")) {
            Remove-Item -LiteralPath "Cert:\LocalMachine\My\$old"
        }
        $cfg.Thumbprint = $thumb
        $cfg | ConvertTo-Json | Set-Content -LiteralPath $ConfigFile -Encoding UTF8
        Write-Output "Installed $thumb for $($cfg.Domains -join ', ') on '$($cfg.SiteName)'; removed '$old'."
    } finally {
        Stop-Transcript | Out-Null
    }
}

if ($Install) { Install-Enrolment } else { Invoke-Renewal }
