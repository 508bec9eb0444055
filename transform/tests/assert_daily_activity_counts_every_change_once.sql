{#- The day-by-day counts add up to the changes, day by day. -#}
with changes as (

    select changed_on, count(*) as changes
    from {{ ref('stg_lp_audittrail__changes') }}
    group by changed_on

),

counted as (

    select activity_date, sum(change_count) as changes
    from {{ ref('lp_audittrail__daily_activity') }}
    group by activity_date

)

select changes.changed_on, changes.changes, counted.changes as counted
from changes
full outer join counted on counted.activity_date = changes.changed_on
where counted.changes is null or changes.changes is null or counted.changes <> changes.changes
